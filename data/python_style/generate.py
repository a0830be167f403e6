"""Generate data/python_style/{train,validation,test}.jsonl deterministically.

Run from the project root: python data/python_style/generate.py
Each record is a request for a small Python function and an answer in the house style
(see README.md beside this file). Families of tasks are split whole between train,
validation and test, so no test request is a paraphrase of a training request.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 1234

# (family, function name, task phrase, signature params, return type, docstring, body lines, variants)
# Every string may use {placeholders} filled from one variant dict.
FAMILIES: list[tuple] = [
    ("multiply", "multiply_by_{k}", "multiplies a number by {k}", "value: float", "float",
     "Return value multiplied by {k}.", ["return value * {k}"], [{"k": k} for k in range(2, 10)]),
    ("power", "raise_to_{p}", "raises a number to the power of {p}", "base: float", "float",
     "Return base raised to the power {p}.", ["return base ** {p}"], [{"p": p} for p in range(2, 7)]),
    ("divisible", "is_divisible_by_{k}", "checks whether an integer is divisible by {k}", "number: int", "bool",
     "Return True if number is divisible by {k}.", ["return number % {k} == 0"],
     [{"k": k} for k in range(2, 10)]),
    ("clamp", "clamp_{lo}_{hi}", "clamps a number so it stays between {lo} and {hi}", "value: float", "float",
     "Return value limited to the range [{lo}, {hi}].", ["return max({lo}, min({hi}, value))"],
     [{"lo": lo, "hi": hi} for lo, hi in [(0, 1), (0, 10), (0, 100), (-1, 1), (1, 5), (10, 20), (0, 255)]]),
    ("convert", "{src}_to_{dst}", "converts a distance or weight from {src} to {dst}", "amount: float", "float",
     "Return amount in {src} converted to {dst}.", ["return amount * {factor}"],
     [{"src": s, "dst": d, "factor": f} for s, d, f in [
         ("km", "miles", 0.621371), ("miles", "km", 1.609344), ("kg", "pounds", 2.204623),
         ("pounds", "kg", 0.453592), ("meters", "feet", 3.28084), ("feet", "meters", 0.3048),
         ("inches", "cm", 2.54), ("cm", "inches", 0.393701), ("liters", "gallons", 0.264172)]]),
    ("temperature", "{src}_to_{dst}", "converts a temperature from {src} to {dst}", "degrees: float", "float",
     "Return degrees in {src} converted to {dst}.", ["return {expr}"],
     [{"src": "celsius", "dst": "fahrenheit", "expr": "degrees * 9 / 5 + 32"},
      {"src": "fahrenheit", "dst": "celsius", "expr": "(degrees - 32) * 5 / 9"},
      {"src": "celsius", "dst": "kelvin", "expr": "degrees + 273.15"},
      {"src": "kelvin", "dst": "celsius", "expr": "degrees - 273.15"}]),
    ("aggregate", "{name}_of_numbers", "returns the {what} of a list of numbers", "numbers: list[float]", "float",
     "Return the {what} of numbers.", ["return {expr}"],
     [{"name": "sum", "what": "sum", "expr": "sum(numbers)"},
      {"name": "mean", "what": "average", "expr": "sum(numbers) / len(numbers)"},
      {"name": "largest", "what": "largest value", "expr": "max(numbers)"},
      {"name": "smallest", "what": "smallest value", "expr": "min(numbers)"},
      {"name": "spread", "what": "difference between largest and smallest value",
       "expr": "max(numbers) - min(numbers)"}]),
    ("count_above", "count_above_{t}", "counts how many numbers in a list are greater than {t}",
     "numbers: list[float]", "int", "Return how many numbers are greater than {t}.",
     ["return sum(1 for number in numbers if number > {t})"], [{"t": t} for t in (0, 1, 5, 10, 50, 100)]),
    ("filter_numbers", "keep_{kind}", "keeps only the {kind} numbers of a list", "numbers: list[int]", "list[int]",
     "Return the {kind} numbers in numbers, in order.", ["return [number for number in numbers if {cond}]"],
     [{"kind": "even", "cond": "number % 2 == 0"}, {"kind": "odd", "cond": "number % 2 == 1"},
      {"kind": "positive", "cond": "number > 0"}, {"kind": "negative", "cond": "number < 0"},
      {"kind": "nonzero", "cond": "number != 0"}]),
    ("map_numbers", "{name}_each", "{what} every number in a list", "numbers: list[float]", "list[float]",
     "Return a new list with every number {past}.", ["return [{expr} for number in numbers]"],
     [{"name": "square", "what": "squares", "past": "squared", "expr": "number * number"},
      {"name": "double", "what": "doubles", "past": "doubled", "expr": "number * 2"},
      {"name": "negate", "what": "negates", "past": "negated", "expr": "-number"},
      {"name": "halve", "what": "halves", "past": "halved", "expr": "number / 2"},
      {"name": "absolute", "what": "takes the absolute value of", "past": "made non-negative",
       "expr": "abs(number)"}]),
    ("factorial", "factorial", "computes the factorial of a non-negative integer", "n: int", "int",
     "Return n factorial.", ["result = 1", "for factor in range(2, n + 1):", "    result *= factor", "return result"],
     [{}]),
    ("fibonacci", "fibonacci", "returns the n-th Fibonacci number", "n: int", "int",
     "Return the n-th Fibonacci number, starting from fibonacci(0) == 0.",
     ["previous, current = 0, 1", "for _ in range(n):", "    previous, current = current, previous + current",
      "return previous"], [{}]),
    ("gcd", "greatest_common_divisor", "finds the greatest common divisor of two integers", "a: int, b: int", "int",
     "Return the greatest common divisor of a and b.", ["while b:", "    a, b = b, a % b", "return abs(a)"], [{}]),
    ("prime", "is_prime", "tells whether an integer is a prime number", "number: int", "bool",
     "Return True if number is prime.",
     ["if number < 2:", "    return False", "return all(number % divisor for divisor in range(2, int(number ** 0.5) + 1))"],
     [{}]),
    ("digit_sum", "sum_of_digits", "adds up the digits of a non-negative integer", "number: int", "int",
     "Return the sum of the decimal digits of number.", ["return sum(int(digit) for digit in str(number))"], [{}]),
    ("reverse_string", "reverse_text", "reverses a string", "text: str", "str", "Return text reversed.",
     ["return text[::-1]"], [{}]),
    ("palindrome", "is_palindrome", "checks whether a word reads the same backwards, ignoring case", "word: str",
     "bool", "Return True if word is a palindrome, ignoring case.",
     ["lowered = word.lower()", "return lowered == lowered[::-1]"], [{}]),
    ("count_char", "count_{name}", "counts how many times the character '{c}' appears in a string", "text: str",
     "int", "Return the number of '{c}' characters in text.", ["return text.count('{c}')"],
     [{"name": n, "c": c} for n, c in [("a", "a"), ("e", "e"), ("spaces", " "), ("commas", ","),
                                          ("dots", "."), ("hashes", "#"), ("x", "x")]]),
    ("vowels", "count_vowels", "counts the vowels in a string", "text: str", "int",
     "Return the number of vowels in text.", ["return sum(1 for char in text.lower() if char in 'aeiou')"], [{}]),
    ("prefix", "starts_with_{name}", "checks whether a string starts with '{p}'", "text: str", "bool",
     "Return True if text starts with '{p}'.", ["return text.startswith('{p}')"],
     [{"name": n, "p": p} for n, p in [("http", "http"), ("hash", "#"), ("test", "test_"), ("dot", "."),
                                          ("slash", "/"), ("the", "The ")]]),
    ("suffix", "ends_with_{name}", "checks whether a file name ends with '{s}'", "file_name: str", "bool",
     "Return True if file_name ends with '{s}'.", ["return file_name.endswith('{s}')"],
     [{"name": n, "s": s} for n, s in [("py", ".py"), ("csv", ".csv"), ("json", ".json"), ("txt", ".txt"),
                                          ("png", ".png")]]),
    ("truncate", "truncate_to_{n}", "shortens a string to at most {n} characters", "text: str", "str",
     "Return the first {n} characters of text.", ["return text[:{n}]"], [{"n": n} for n in (5, 10, 20, 50, 80)]),
    ("repeat", "repeat_{n}_times", "repeats a string {n} times", "text: str", "str",
     "Return text repeated {n} times.", ["return text * {n}"], [{"n": n} for n in (2, 3, 4, 5)]),
    ("word_count", "count_words", "counts the words in a sentence", "sentence: str", "int",
     "Return the number of whitespace-separated words in sentence.", ["return len(sentence.split())"], [{}]),
    ("longest_word", "longest_word", "finds the longest word in a sentence", "sentence: str", "str",
     "Return the longest word in sentence, the first one on ties.", ["return max(sentence.split(), key=len)"],
     [{}]),
    ("acronym", "make_acronym", "builds an upper-case acronym from a phrase", "phrase: str", "str",
     "Return the upper-case initials of the words in phrase.",
     ["return ''.join(word[0] for word in phrase.split()).upper()"], [{}]),
    ("replace_char", "replace_{a_name}_with_{b_name}", "replaces every '{a}' in a string with '{b}'", "text: str",
     "str", "Return text with every '{a}' replaced by '{b}'.", ["return text.replace('{a}', '{b}')"],
     [{"a_name": an, "a": a, "b_name": bn, "b": b} for an, a, bn, b in [
         ("spaces", " ", "underscores", "_"), ("dashes", "-", "spaces", " "), ("commas", ",", "semicolons", ";"),
         ("tabs", "\\t", "spaces", " "), ("dots", ".", "commas", ",")]]),
    ("strip_ws", "remove_whitespace", "removes all whitespace from a string", "text: str", "str",
     "Return text without any whitespace characters.", ["return ''.join(text.split())"], [{}]),
    ("title", "capitalize_words", "capitalizes the first letter of every word", "text: str", "str",
     "Return text with each word capitalized.", ["return ' '.join(word.capitalize() for word in text.split())"],
     [{}]),
    ("first_n", "first_{n}", "returns the first {n} items of a list", "items: list", "list",
     "Return the first {n} items of items.", ["return items[:{n}]"], [{"n": n} for n in (1, 2, 3, 5, 10)]),
    ("last_n", "last_{n}", "returns the last {n} items of a list", "items: list", "list",
     "Return the last {n} items of items.", ["return items[-{n}:]"], [{"n": n} for n in (1, 2, 3, 5, 10)]),
    ("dedupe", "remove_duplicates", "removes duplicates from a list while keeping the original order",
     "items: list", "list", "Return items without duplicates, keeping first occurrences in order.",
     ["return list(dict.fromkeys(items))"], [{}]),
    ("flatten", "flatten", "flattens a list of lists into one list", "nested: list[list]", "list",
     "Return the items of every inner list in one flat list.",
     ["return [item for inner in nested for item in inner]"], [{}]),
    ("chunk", "chunks_of_{n}", "splits a list into chunks of {n} items", "items: list", "list[list]",
     "Return items split into consecutive chunks of {n}.",
     ["return [items[start:start + {n}] for start in range(0, len(items), {n})]"],
     [{"n": n} for n in (2, 3, 4, 5, 10)]),
    ("rotate", "rotate_left_{n}", "rotates a list to the left by {n} positions", "items: list", "list",
     "Return items rotated left by {n} positions.",
     ["if not items:", "    return []", "shift = {n} % len(items)", "return items[shift:] + items[:shift]"],
     [{"n": n} for n in (1, 2, 3)]),
    ("word_freq", "word_frequencies", "counts how often each word occurs in a text", "text: str",
     "dict[str, int]", "Return a mapping from each lower-case word in text to its count.",
     ["counts: dict[str, int] = {{}}", "for word in text.lower().split():",
      "    counts[word] = counts.get(word, 0) + 1", "return counts"], [{}]),
    ("merge_dicts", "merge_dicts", "merges two dictionaries, the second one winning on shared keys",
     "first: dict, second: dict", "dict", "Return a new dict with the items of first updated by second.",
     ["return {{**first, **second}}"], [{}]),
    ("invert_dict", "invert_dict", "swaps the keys and values of a dictionary", "mapping: dict", "dict",
     "Return a dict mapping each value of mapping to its key.",
     ["return {{value: key for key, value in mapping.items()}}"], [{}]),
    ("max_key", "key_of_max_value", "finds the key with the largest value in a dictionary",
     "scores: dict[str, float]", "str", "Return the key of the largest value in scores.",
     ["return max(scores, key=scores.get)"], [{}]),
    ("sort_len", "sort_by_length", "sorts a list of strings from shortest to longest", "words: list[str]",
     "list[str]", "Return words sorted by length, shortest first.", ["return sorted(words, key=len)"], [{}]),
    ("zip_dict", "pair_up", "builds a dictionary from a list of keys and a list of values",
     "keys: list[str], values: list", "dict", "Return a dict pairing each key with the value at its position.",
     ["return dict(zip(keys, values))"], [{}]),
    ("running_total", "running_totals", "computes the running total of a list of numbers",
     "numbers: list[float]", "list[float]", "Return the cumulative sums of numbers.",
     ["totals = []", "total = 0.0", "for number in numbers:", "    total += number", "    totals.append(total)",
      "return totals"], [{}]),
    ("leap_year", "is_leap_year", "tells whether a year is a leap year", "year: int", "bool",
     "Return True if year is a leap year in the Gregorian calendar.",
     ["return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)"], [{}]),
    ("hms", "format_duration", "turns a number of seconds into an H:MM:SS string", "seconds: int", "str",
     "Return seconds formatted as H:MM:SS.",
     ["hours, rest = divmod(seconds, 3600)", "minutes, secs = divmod(rest, 60)",
      "return f'{{hours}}:{{minutes:02d}}:{{secs:02d}}'"], [{}]),
    ("price", "format_price_{name}", "formats an amount as a price in {name} with the {sym} sign",
     "amount: float", "str", "Return amount formatted with two decimals and the {sym} sign.",
     ["return f'{sym}{{amount:,.2f}}'"],
     [{"name": n, "sym": s} for n, s in [("dollars", "$"), ("euros", "€"), ("pounds", "£"), ("yen", "¥")]]),
    ("percent", "percentage", "computes what percentage one number is of another", "part: float, whole: float",
     "float", "Return part as a percentage of whole.", ["return 100 * part / whole"], [{}]),
    ("bmi", "body_mass_index", "computes the body mass index from weight in kg and height in meters",
     "weight_kg: float, height_m: float", "float", "Return the body mass index for weight_kg and height_m.",
     ["return weight_kg / height_m ** 2"], [{}]),
    ("interest", "grow_at_{pct}_percent", "applies {pct}% yearly compound interest to a balance for some years",
     "balance: float, years: int", "float", "Return balance after years of {pct}% compound interest.",
     ["return balance * (1 + {pct} / 100) ** years"], [{"pct": p} for p in (2, 3, 5, 7, 10)]),
    ("passed", "has_passed_{t}", "checks whether an exam score reaches the pass mark of {t}", "score: float",
     "bool", "Return True if score is at least {t}.", ["return score >= {t}"], [{"t": t} for t in (40, 50, 60, 70)]),
    ("email", "looks_like_email", "checks whether a string looks like an email address", "address: str", "bool",
     "Return True if address has one '@' with text on both sides and a dot after it.",
     ["name, at, domain = address.partition('@')", "return bool(name) and at == '@' and '.' in domain"], [{}]),
    ("extension", "file_extension", "returns the extension of a file name, without the dot", "file_name: str",
     "str", "Return the text after the last dot in file_name, or '' if there is none.",
     ["stem, dot, extension = file_name.rpartition('.')", "return extension if dot else ''"], [{}]),
    ("key_value", "parse_key_values", "parses a string like 'a=1;b=2' into a dictionary", "text: str",
     "dict[str, str]", "Return the key=value pairs of a semicolon-separated text.",
     ["pairs = (item.split('=', 1) for item in text.split(';') if '=' in item)",
      "return {{key.strip(): value.strip() for key, value in pairs}}"], [{}]),
    ("count_lines", "count_nonempty_lines", "counts the non-empty lines in a block of text", "text: str", "int",
     "Return the number of lines in text that are not blank.",
     ["return sum(1 for line in text.splitlines() if line.strip())"], [{}]),
    ("hex_color", "is_hex_color", "checks whether a string is a hex color such as '#1a2b3c'", "value: str",
     "bool", "Return True if value is '#' followed by six hexadecimal digits.",
     ["return len(value) == 7 and value[0] == '#' and all(char in '0123456789abcdefABCDEF' for char in value[1:])"],
     [{}]),
    ("area", "{shape}_area", "computes the area of a {shape}", "{params}", "float",
     "Return the area of a {shape} with the given {dims}.", ["return {expr}"],
     [{"shape": "circle", "params": "radius: float", "dims": "radius", "expr": "3.141592653589793 * radius ** 2"},
      {"shape": "square", "params": "side: float", "dims": "side", "expr": "side * side"},
      {"shape": "rectangle", "params": "width: float, height: float", "dims": "width and height",
       "expr": "width * height"},
      {"shape": "triangle", "params": "base: float, height: float", "dims": "base and height",
       "expr": "base * height / 2"}]),
    ("index_max", "index_of_largest", "finds the position of the largest number in a list",
     "numbers: list[float]", "int", "Return the index of the first largest number.",
     ["return max(range(len(numbers)), key=numbers.__getitem__)"], [{}]),
    ("pairwise", "pairwise_sums", "adds neighbouring numbers of a list pairwise", "numbers: list[float]",
     "list[float]", "Return the sums of each number and the next one.",
     ["return [left + right for left, right in zip(numbers, numbers[1:])]"], [{}]),
    ("snake_case", "to_snake_case", "converts a phrase with spaces into snake_case", "phrase: str", "str",
     "Return phrase in lower case with words joined by underscores.", ["return '_'.join(phrase.lower().split())"],
     [{}]),
    ("average_len", "average_word_length", "computes the average length of the words in a sentence",
     "sentence: str", "float", "Return the mean number of characters per word in sentence.",
     ["words = sentence.split()", "return sum(len(word) for word in words) / len(words)"], [{}]),
    ("between", "is_between_{lo}_and_{hi}", "checks whether a number lies between {lo} and {hi}, inclusive",
     "value: float", "bool", "Return True if value is in the range [{lo}, {hi}].", ["return {lo} <= value <= {hi}"],
     [{"lo": lo, "hi": hi} for lo, hi in [(0, 1), (1, 10), (18, 65), (0, 100), (-10, 10)]]),
]

# Arguments each family's checks call its function with (by number of parameters where variants differ).
# The expected results come from running the reference answer here, in the generator (trusted code);
# the inputs stay away from cases the docstring leaves open (thousands separators, empty-list means...).
CHECK_INPUTS: dict[str, list[tuple] | dict[int, list[tuple]]] = {
    "multiply": [(3,), (-2.5,), (0,)],
    "power": [(2,), (-3,), (1.5,)],
    "divisible": [(36,), (35,), (100,)],
    "clamp": [(-5,), (0.5,), (7,), (300,)],
    "convert": [(10,), (0,), (2.5,)],
    "temperature": [(100,), (0,), (-40,)],
    "aggregate": [([1, 2, 3, 4],), ([-2.5, 10, 4],)],
    "count_above": [([0, 1, 2, 5, 10, 50, 100, 150],), ([],)],
    "filter_numbers": [([3, -2, 0, 7, 8, -5],), ([],)],
    "map_numbers": [([1, -2, 3.5],), ([],)],
    "factorial": [(0,), (1,), (5,), (10,)],
    "fibonacci": [(0,), (1,), (2,), (10,)],
    "gcd": [(12, 18), (7, 5), (100, 75)],
    "prime": [(2,), (1,), (17,), (21,), (97,)],
    "digit_sum": [(0,), (1234,), (9,)],
    "reverse_string": [("abc",), ("",), ("racecar!",)],
    "palindrome": [("Level",), ("python",), ("a",)],
    "count_char": [("banana, apple. #tax e e",), ("",)],
    "vowels": [("Hello World",), ("rhythm",), ("AEIOU",)],
    "prefix": [("http://x.org",), ("#tag",), ("test_case",), (".env",), ("/usr",), ("The end",), ("nothing",)],
    "suffix": [("main.py",), ("data.csv",), ("a.json",), ("notes.txt",), ("img.png",), ("archive.tar",)],
    "truncate": [("abcdefghijklmnopqrstuvwxyz" * 4,), ("short",)],
    "repeat": [("ab",), ("",)],
    "word_count": [("the quick  brown fox",), ("",), ("one",)],
    "longest_word": [("a bb ccc dd",), ("hello world",)],
    "acronym": [("portable network graphics",), ("as soon as possible",)],
    "replace_char": [("a b-c,d\t.e f",), ("",)],
    "strip_ws": [("a b\tc\nd",), ("",)],
    "title": [("hello big world",), ("ONE two",)],
    "first_n": [(list(range(1, 13)),), ([],)],
    "last_n": [(list(range(1, 13)),), ([],)],
    "dedupe": [([3, 1, 3, 2, 1],), ([],)],
    "flatten": [([[1, 2], [], [3]],), ([],)],
    "chunk": [(list(range(1, 12)),), ([],)],
    "rotate": [([1, 2, 3, 4, 5],), ([],), ([7],)],
    "word_freq": [("The cat the hat",), ("",)],
    "merge_dicts": [({"a": 1, "b": 2}, {"b": 3, "c": 4}), ({}, {"x": 1})],
    "invert_dict": [({"a": 1, "b": 2},), ({},)],
    "max_key": [({"x": 1.5, "y": 9.0, "z": 3.0},)],
    "sort_len": [(["ccc", "a", "bb"],), ([],)],
    "zip_dict": [(["a", "b"], [1, 2]), ([], [])],
    "running_total": [([1, 2, 3.5],), ([],)],
    "leap_year": [(2024,), (1900,), (2000,), (2023,)],
    "hms": [(0,), (59,), (3661,), (86399,)],
    "price": [(12.5,), (0,), (3.14159,)],
    "percent": [(25, 200), (1, 3)],
    "bmi": [(70, 1.75), (50, 1.6)],
    "interest": [(1000, 0), (1000, 3)],
    "passed": [(39.5,), (50,), (70,), (100,)],
    "email": [("a@b.com",), ("no-at-sign",), ("@b.com",), ("a@b",)],
    "extension": [("report.pdf",), ("archive.tar.gz",), ("README",)],
    "key_value": [("a=1;b=2",), ("x = 5 ; junk ; y=hello",), ("",)],
    "count_lines": [("a\n\n  \nb\n",), ("",)],
    "hex_color": [("#1a2b3c",), ("#12345",), ("123456#",), ("#GGGGGG",)],
    "area": {1: [(2,), (0.5,)], 2: [(2, 3), (4, 5)]},
    "index_max": [([3, 9, 2, 9],), ([-1],)],
    "pairwise": [([1, 2, 4],), ([5],)],
    "snake_case": [("Hello Big World",), ("one",)],
    "average_len": [("a bb ccc",), ("hello",)],
    "between": [(0,), (1,), (10,), (65,), (101,)],
}


def _expression(call: str, expected) -> str:
    """A check: an expression that is True when the call returns the expected value (floats to 1e-6)."""
    if isinstance(expected, float):
        return f"abs({call} - {expected!r}) <= 1e-6 * max(1.0, abs({expected!r}))"
    if isinstance(expected, list) and any(isinstance(item, float) for item in expected):
        return f"[round(item, 6) for item in {call}] == {[round(item, 6) for item in expected]!r}"
    return f"{call} == {expected!r}"


def make_checks(key: str, name: str, params: str, code: str) -> list[str]:
    """The family's calls, with the results the reference answer gives, as check expressions."""
    inputs = CHECK_INPUTS[key]
    if isinstance(inputs, dict):
        inputs = inputs[params.count(":")]
    namespace: dict = {}
    exec(code, namespace)  # the generator's own reference answer, not model output
    function = namespace[name]
    return [_expression(f"{name}({', '.join(map(repr, args))})", function(*args)) for args in inputs]


PHRASINGS = [
    "Write a Python function that {task}.",
    "Create a function `{name}` that {task}.",
    "I need a small Python helper that {task}.",
    "Implement a function which {task}.",
    "Could you write Python code for a function that {task}?",
    "Give me a Python function named {name}: it {task}.",
]

# Whole families held out: test requests are new tasks, not paraphrases of training ones.
TEST_FAMILIES = {"power", "count_char", "chunk", "hms", "invert_dict", "prime", "interest", "snake_case",
                 "between", "vowels", "area", "last_n"}
VALIDATION_FAMILIES = {"divisible", "truncate", "word_freq", "email", "pairwise", "title", "price"}


def render(family: tuple, variant: dict, phrasing: str) -> dict:
    """One request and its house-style answer."""
    key, name, task, params, returns, doc, body, _ = family
    name, task = name.format(**variant).replace("-", "minus_"), task.format(**variant)
    params, doc = params.format(**variant), doc.format(**variant)
    lines = [f"def {name}({params}) -> {returns}:", f'    """{doc}"""']
    lines += ["    " + line.format(**variant) for line in body]
    code = "\n".join(lines)
    return {"instruction": phrasing.format(task=task, name=name), "output": f"```python\n{code}\n```",
            "family": key, "checks": make_checks(key, name, params, code)}


def generate() -> dict[str, list[dict]]:
    """All records, split by family; up to 6 phrasings per variant, at least 2 where a family has many variants."""
    rng = random.Random(SEED)
    splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for family in FAMILIES:
        variants = family[-1]
        per_variant = max(2, min(len(PHRASINGS), 16 // len(variants)))
        split = "test" if family[0] in TEST_FAMILIES else "validation" if family[0] in VALIDATION_FAMILIES else "train"
        for variant in variants:
            for phrasing in rng.sample(PHRASINGS, per_variant):
                splits[split].append(render(family, variant, phrasing))
    for records in splits.values():
        rng.shuffle(records)
    return splits


def main() -> None:
    from helpers.data import write_splits

    write_splits(generate(), HERE)


if __name__ == "__main__":
    main()
