"""Generate data/instructions/{train,validation}.jsonl deterministically (Alpaca-style records).

Run from the project root: python data/instructions/generate.py
Mixed short tasks whose answers are computed, so every output is correct by construction.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2024

CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Portugal": "Lisbon",
    "Japan": "Tokyo", "Canada": "Ottawa", "Australia": "Canberra", "Brazil": "Brasília", "Egypt": "Cairo",
    "Kenya": "Nairobi", "India": "New Delhi", "Mexico": "Mexico City", "Norway": "Oslo", "Sweden": "Stockholm",
    "Poland": "Warsaw", "Greece": "Athens", "Turkey": "Ankara", "Argentina": "Buenos Aires", "Chile": "Santiago",
    "Peru": "Lima", "Ireland": "Dublin", "Austria": "Vienna", "Finland": "Helsinki", "Hungary": "Budapest",
    "Vietnam": "Hanoi", "Thailand": "Bangkok", "Morocco": "Rabat", "Nigeria": "Abuja", "Denmark": "Copenhagen",
}
ANTONYMS = {
    "hot": "cold", "big": "small", "fast": "slow", "happy": "sad", "early": "late", "light": "dark",
    "open": "closed", "full": "empty", "strong": "weak", "rich": "poor", "young": "old", "high": "low",
    "hard": "soft", "loud": "quiet", "wet": "dry", "clean": "dirty", "easy": "difficult", "long": "short",
    "thick": "thin", "near": "far", "cheap": "expensive", "safe": "dangerous", "wide": "narrow", "true": "false",
}
WORDS = ["apple", "river", "candle", "mountain", "violin", "garden", "pepper", "rocket", "window", "tiger",
         "blanket", "harbor", "lemon", "marble", "notebook", "orchid", "pillow", "quartz", "saddle", "tunnel"]
POSITIVE = ["wonderful", "delightful", "excellent", "friendly", "fantastic", "helpful", "lovely", "superb"]
NEGATIVE = ["terrible", "awful", "rude", "disappointing", "broken", "horrible", "boring", "dreadful"]
SUBJECTS = ["The hotel staff", "The new phone", "This restaurant", "The movie", "Our tour guide", "The delivery",
            "The hiking trail", "The concert"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]


def capital(rng: random.Random) -> dict:
    country = rng.choice(sorted(CAPITALS))
    return {"instruction": f"What is the capital of {country}?", "input": "",
            "output": f"The capital of {country} is {CAPITALS[country]}.", "task": "capital"}


def antonym(rng: random.Random) -> dict:
    word = rng.choice(sorted(ANTONYMS))
    return {"instruction": "Give the opposite of the word in the input.", "input": word,
            "output": ANTONYMS[word], "task": "antonym"}


def sort_words(rng: random.Random) -> dict:
    words = rng.sample(WORDS, rng.randint(3, 6))
    return {"instruction": "Sort these words alphabetically.", "input": ", ".join(words),
            "output": ", ".join(sorted(words)), "task": "sort_words"}


def arithmetic(rng: random.Random) -> dict:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    op, symbol, result = rng.choice([("add", "+", a + b), ("subtract", "-", a - b), ("multiply", "*", a * b)])
    return {"instruction": f"Compute {a} {symbol} {b}.", "input": "", "output": str(result), "task": "arithmetic"}


def word_problem(rng: random.Random) -> dict:
    name = rng.choice(["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana"])
    item = rng.choice(["apples", "stamps", "marbles", "books", "pencils", "shells"])
    start, more, gone = rng.randint(5, 40), rng.randint(2, 20), rng.randint(1, 5)
    total = start + more - gone
    return {"instruction": "Solve the word problem and give the answer as a number.",
            "input": f"{name} has {start} {item}, gets {more} more and gives away {gone}. How many {item} "
                     f"does {name} have now?",
            "output": f"{total}", "task": "word_problem"}


def sentiment(rng: random.Random) -> dict:
    positive = rng.random() < 0.5
    adjective = rng.choice(POSITIVE if positive else NEGATIVE)
    subject = rng.choice(SUBJECTS)
    return {"instruction": "Classify the sentiment of the sentence as positive or negative.",
            "input": f"{subject} was {adjective}.", "output": "positive" if positive else "negative",
            "task": "sentiment"}


def uppercase(rng: random.Random) -> dict:
    words = " ".join(rng.sample(WORDS, rng.randint(2, 4)))
    return {"instruction": "Rewrite the input in upper case.", "input": words, "output": words.upper(),
            "task": "uppercase"}


def reverse_words(rng: random.Random) -> dict:
    words = rng.sample(WORDS, rng.randint(3, 5))
    return {"instruction": "Reverse the order of the words.", "input": " ".join(words),
            "output": " ".join(reversed(words)), "task": "reverse_words"}


def count_words(rng: random.Random) -> dict:
    words = rng.sample(WORDS, rng.randint(2, 9))
    return {"instruction": "How many words are in the input?", "input": " ".join(words),
            "output": str(len(words)), "task": "count_words"}


def number_to_words(rng: random.Random) -> dict:
    number = rng.randint(0, 19)
    return {"instruction": f"Write the number {number} in words.", "input": "", "output": NUMBER_WORDS[number],
            "task": "number_to_words"}


def km_to_miles(rng: random.Random) -> dict:
    km = rng.choice([1, 2, 5, 8, 10, 12, 15, 20, 21, 25, 30, 42, 50, 100])
    return {"instruction": f"Convert {km} km to miles, rounded to one decimal.", "input": "",
            "output": f"{km * 0.621371:.1f} miles", "task": "km_to_miles"}


def largest_number(rng: random.Random) -> dict:
    numbers = rng.sample(range(1, 500), rng.randint(3, 7))
    return {"instruction": "Which is the largest number in the list?", "input": ", ".join(map(str, numbers)),
            "output": str(max(numbers)), "task": "largest_number"}


TASKS = [capital, antonym, sort_words, arithmetic, word_problem, sentiment, uppercase, reverse_words,
         count_words, number_to_words, km_to_miles, largest_number]


def generate(per_task: int = 22, validation_share: float = 0.15) -> dict[str, list[dict]]:
    """Unique records from every task type, shuffled and split into train and validation."""
    rng = random.Random(SEED)
    records, seen = [], set()
    for task in TASKS:
        made, attempts = 0, 0
        while made < per_task and attempts < per_task * 20:
            attempts += 1
            record = task(rng)
            key = (record["instruction"], record["input"])
            if key not in seen:
                seen.add(key)
                records.append(record)
                made += 1
    rng.shuffle(records)
    cut = int(len(records) * validation_share)
    return {"train": records[cut:], "validation": records[:cut]}


def main() -> None:
    from helpers.data import write_splits

    write_splits(generate(), HERE)


if __name__ == "__main__":
    main()
