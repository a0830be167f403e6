"""Generate data/qa_passages/{train,validation,test}.jsonl deterministically (SQuAD v1.1 style).

Run from the project root: python data/qa_passages/generate.py
Short fictional passages about people, places and organisations, each with several questions whose
answer is a span copied from the passage (extractive QA). Every answer is checked to occur in its
context. Passages are split whole, so test questions are about passages the model never saw.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 11

FIRST = ["Marta", "Jonas", "Priya", "Tomasz", "Aiko", "Lena", "Kwame", "Sofia", "Rafael", "Ingrid", "Omar",
         "Elena", "Mateo", "Yuki", "Nadia", "Felix", "Amara", "Hugo", "Leila", "Viktor"]
LAST = ["Velez", "Lindqvist", "Raman", "Nowak", "Tanaka", "Fischer", "Mensah", "Moreau", "Costa", "Berg",
        "Haddad", "Petrova", "Ruiz", "Sato", "Karimi", "Weber", "Okafor", "Laurent", "Novak", "Duarte"]
TOWNS = ["Tarnow", "Elmsford", "Brightwater", "Kessel", "Marlow Bay", "Ostrava", "Pinecrest", "Valdora",
         "Redcliff", "Sunhollow", "Ashby", "Northgate", "Caldera", "Westmere", "Lakeside", "Fenwick"]
BUSINESSES = [("bakery", "bakers"), ("bookshop", "booksellers"), ("bicycle workshop", "mechanics"),
              ("dance school", "teachers"), ("furniture studio", "carpenters"), ("radio station", "presenters"),
              ("coffee roastery", "roasters"), ("print shop", "printers"), ("boatyard", "shipwrights")]
NAMES = ["Blue Harbor", "Golden Fern", "Silver Oak", "Red Lantern", "Old Mill", "North Star", "Green Gate",
         "Copper Kettle", "White Heron", "Stone Bridge"]
COUNTS = ["three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "fifteen",
          "twenty"]
PRODUCTS = {"bakery": ["rye bread", "cinnamon buns", "sourdough loaves"],
            "bookshop": ["poetry collections", "old maps", "travel guides"],
            "bicycle workshop": ["cargo bikes", "racing frames", "folding bicycles"],
            "dance school": ["tango classes", "ballet lessons", "swing workshops"],
            "furniture studio": ["walnut tables", "rocking chairs", "bookshelves"],
            "radio station": ["jazz programmes", "morning news", "football commentary"],
            "coffee roastery": ["Ethiopian beans", "espresso blends", "cold brew"],
            "print shop": ["wedding invitations", "concert posters", "art prints"],
            "boatyard": ["wooden sailboats", "fishing boats", "canoes"]}
AWARDS = ["the Regional Craft Prize", "the Founders Medal", "the Golden Ribbon", "the City Merit Award",
          "the Heritage Trophy"]


def passage(rng: random.Random) -> tuple[str, list[dict]]:
    """One passage and its questions, every answer a span of the passage."""
    founder = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    successor = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    while successor.split()[1] == founder.split()[1]:
        successor = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    town = rng.choice(TOWNS)
    business, workers = rng.choice(BUSINESSES)
    name = f"the {rng.choice(NAMES)} {business}"
    year = rng.randint(1950, 2012)
    count = rng.choice(COUNTS)
    product = rng.choice(PRODUCTS[business])
    award = rng.choice(AWARDS)
    award_year = year + rng.randint(3, 10)
    handover = award_year + rng.randint(2, 9)
    context = (
        f"{founder} opened {name} in {town} in {year}. Within a few years it employed {count} {workers} "
        f"and became known across the region for its {product}. In {award_year} it received {award}. "
        f"{founder.split()[0]} handed the business to {successor} in {handover}, who still runs it today."
    )
    questions = [
        (f"Who opened {name}?", founder),
        (f"In which town did {founder} open the {business}?", town),
        (f"In what year was {name} opened?", str(year)),
        (f"How many {workers} did the {business} employ?", count),
        (f"What was {name} known for?", product),
        (f"Which award did the {business} receive?", award),
        (f"Who runs {name} today?", successor),
        (f"When did {founder.split()[0]} hand the business over?", str(handover)),
    ]
    records = []
    for question, answer in questions:
        assert answer in context, (answer, context)
        records.append({"context": context, "question": question, "answer": answer})
    return context, records


def generate(sizes: dict[str, int] | None = None, per_passage: int = 4) -> dict[str, list[dict]]:
    """Questions from whole passages: `per_passage` of the 8 per passage, passages never shared across splits."""
    sizes = sizes or {"train": 240, "validation": 40, "test": 60}
    rng = random.Random(SEED)
    seen: set[str] = set()
    splits: dict[str, list[dict]] = {}
    for split, size in sizes.items():
        records: list[dict] = []
        while len(records) < size:
            context, questions = passage(rng)
            if context in seen:
                continue
            seen.add(context)
            records.extend(rng.sample(questions, per_passage)[: size - len(records)])
        rng.shuffle(records)
        splits[split] = records
    return splits


def main() -> None:
    from helpers.data import write_splits

    write_splits(generate(), HERE)


if __name__ == "__main__":
    main()
