"""Generate data/news_summaries/{train,validation,test}.jsonl deterministically.

Run from the project root: python data/news_summaries/generate.py
Synthetic news articles in the style of CNN/DailyMail (a dateline, facts, quotes, background),
each with 3-4 highlight sentences as the summary. Entities and numbers are drawn from small
lists, so every article is fiction; the facts in each summary come from its own article.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 77

CITIES = ["Lisbon", "Denver", "Osaka", "Leeds", "Porto Alegre", "Tampere", "Graz", "Halifax", "Cork", "Perth",
          "Utrecht", "Bilbao", "Tucson", "Malmo", "Gdansk", "Brno", "Dunedin", "Nantes", "Bergen", "Ghent"]
FIRST = ["Maria", "James", "Aiko", "Tom", "Lucia", "Omar", "Ingrid", "Paul", "Sofia", "Daniel", "Nadia", "Ravi",
         "Elena", "Marcus", "Grace", "Tariq", "Hannah", "Luis", "Mei", "Jonas"]
LAST = ["Silva", "Turner", "Tanaka", "Walsh", "Moreno", "Haddad", "Berg", "Novak", "Costa", "Reid", "Petrova",
        "Menon", "Garcia", "Lindqvist", "Okafor", "Brennan", "Kowalski", "Dubois", "Chen", "Fischer"]
COMPANIES = ["Northwind Foods", "Helix Robotics", "Bluegate Energy", "Orbital Freight", "Cedar Bank",
             "Lumen Pharma", "Kestrel Motors", "Pinecrest Retail", "Tidewater Shipping", "Quanta Software"]
PRODUCTS = ["electric vans", "frozen meals", "solar panels", "warehouse robots", "mobile banking",
            "allergy medicine", "cloud storage", "garden tools"]
TEAMS = ["Rovers", "United", "Athletic", "City", "Wanderers", "Rangers", "Albion", "Harriers"]
SPECIES = ["frog", "beetle", "orchid", "bat", "lizard", "moth", "fern", "snail"]
HABITATS = ["cloud forest", "limestone caves", "mangrove swamp", "alpine meadow", "river delta", "coral reef"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def earnings(rng: random.Random) -> tuple[str, list[str], list[str]]:
    company, city, day = rng.choice(COMPANIES), rng.choice(CITIES), rng.choice(DAYS)
    product, ceo = rng.choice(PRODUCTS), person(rng)
    change = rng.choice([-18, -12, -7, -4, 3, 6, 9, 14, 21, 27])
    profit = rng.randint(40, 900)
    jobs = rng.choice([150, 300, 450, 800, 1200])
    up = change > 0
    article = [
        f"{city} ({day}) -- {company} reported quarterly profit of ${profit} million on {day}, "
        f"{'up' if up else 'down'} {abs(change)}% from a year earlier.",
        f"The company said demand for its {product} {'grew faster than expected' if up else 'weakened'} "
        f"during the quarter.",
        f"Chief executive {ceo} told analysts the results were "
        f"\"{'a sign that our strategy is working' if up else 'disappointing but not surprising'}\".",
        f"{company} also said it would {'hire' if up else 'cut'} about {jobs} jobs over the next year.",
        f"Shares in the company {'rose' if up else 'fell'} {abs(change) // 2 + 1}% in early trading.",
        f"The firm, founded in {city} in {rng.randint(1950, 2010)}, employs staff in {rng.randint(4, 30)} "
        f"countries.",
        f"Analysts had expected {'smaller' if up else 'larger'} {'gains' if up else 'losses'}.",
    ]
    summary = [
        f"{company} profit {'rises' if up else 'falls'} {abs(change)}% to ${profit} million.",
        f"Demand for its {product} {'grew faster than expected' if up else 'weakened'}.",
        f"The company plans to {'hire' if up else 'cut'} about {jobs} jobs.",
    ]
    return "business", article, summary


def match(rng: random.Random) -> tuple[str, list[str], list[str]]:
    city_a, city_b = rng.sample(CITIES, 2)
    team_a, team_b = f"{city_a} {rng.choice(TEAMS)}", f"{city_b} {rng.choice(TEAMS)}"
    goals_a, goals_b = rng.randint(1, 5), rng.randint(0, 3)
    if goals_a == goals_b:
        goals_a += 1
    scorer, coach, day = person(rng), person(rng), rng.choice(DAYS)
    crowd = rng.randint(8, 60) * 1000
    minute = rng.randint(60, 90)
    article = [
        f"{city_a} ({day}) -- {team_a} beat {team_b} {goals_a}-{goals_b} on {day} in front of {crowd:,} fans.",
        f"{scorer} scored the decisive goal in the {minute}th minute.",
        f"\"{rng.choice(['The players never gave up', 'We were patient and it paid off', 'That was a team effort'])}\","
        f" said {team_a} coach {coach}.",
        f"The win moves {team_a} up to {rng.choice(['second', 'third', 'fourth', 'fifth'])} place in the league.",
        f"{team_b} had led early in the first half before the home side took control.",
        "The two teams meet again in the cup next month.",
    ]
    summary = [
        f"{team_a} beat {team_b} {goals_a}-{goals_b}.",
        f"{scorer} scored the decisive goal in the {minute}th minute.",
        f"The win lifts {team_a} up the league table.",
    ]
    return "sport", article, summary


def storm(rng: random.Random) -> tuple[str, list[str], list[str]]:
    city, day, official = rng.choice(CITIES), rng.choice(DAYS), person(rng)
    rain = rng.randint(60, 250)
    homes = rng.randint(200, 9000)
    closed = rng.randint(3, 40)
    article = [
        f"{city} ({day}) -- Heavy storms dropped {rain} millimeters of rain on {city} on {day}, flooding streets "
        f"and cutting power to {homes:,} homes.",
        f"Officials closed {closed} roads and opened emergency shelters in schools.",
        f"\"Please stay at home unless your journey is essential,\" said {official}, the city's emergency "
        f"coordinator.",
        "No deaths were reported, but several people were treated for minor injuries.",
        f"Forecasters expect the rain to ease by {rng.choice(DAYS)}.",
        f"It was the wettest day in {city} since records began {rng.randint(60, 140)} years ago.",
    ]
    summary = [
        f"Storms drop {rain} millimeters of rain on {city}.",
        f"Power is cut to {homes:,} homes and {closed} roads are closed.",
        "No deaths are reported; shelters open in schools.",
    ]
    return "weather", article, summary


def council(rng: random.Random) -> tuple[str, list[str], list[str]]:
    city, day, mayor, critic = rng.choice(CITIES), rng.choice(DAYS), person(rng), person(rng)
    project = rng.choice(["a tram line", "a public library", "a bicycle network", "a riverside park",
                          "a new hospital wing", "affordable housing"])
    cost = rng.randint(5, 400)
    votes_for, votes_against = rng.randint(12, 30), rng.randint(2, 11)
    year = rng.randint(2027, 2032)
    article = [
        f"{city} ({day}) -- {city} city council voted {votes_for} to {votes_against} on {day} to build "
        f"{project} at a cost of ${cost} million.",
        f"Mayor {mayor} said the plan would \"change daily life in the city for the better\".",
        f"Construction is due to start next year and finish in {year}.",
        f"Opponents, led by councillor {critic}, said the money should be spent on repairing roads.",
        "The plan will be paid for by a mix of city bonds and national grants.",
        "Residents will be able to comment on the design at public meetings this spring.",
    ]
    summary = [
        f"{city} council votes {votes_for}-{votes_against} to build {project}.",
        f"The project will cost ${cost} million and finish in {year}.",
        "Opponents say the money should go to road repairs.",
    ]
    return "politics", article, summary


def discovery(rng: random.Random) -> tuple[str, list[str], list[str]]:
    species, habitat, scientist = rng.choice(SPECIES), rng.choice(HABITATS), person(rng)
    city, day = rng.choice(CITIES), rng.choice(DAYS)
    size = rng.randint(1, 30)
    count = rng.randint(12, 400)
    article = [
        f"{city} ({day}) -- Scientists from the University of {city} have found a new species of {species} "
        f"in a remote {habitat}, they announced on {day}.",
        f"The {species} is about {size} centimeters long "
        f"and has unusual {rng.choice(['blue', 'striped', 'spotted', 'golden'])} markings.",
        f"\"We were amazed to find something so distinctive,\" said lead researcher {scientist}.",
        f"The team counted only {count} individuals and warned that the species may already be endangered.",
        f"The findings were published in the journal {rng.choice(['Nature Ecology', 'Biology Letters', 'Zootaxa'])}.",
        "The researchers plan to return next year to study its behavior.",
    ]
    summary = [
        f"Scientists find a new species of {species} in {'an' if habitat[0] in 'aeiou' else 'a'} {habitat}.",
        f"Only {count} individuals were counted.",
        "Researchers warn the species may already be endangered.",
    ]
    if rng.random() < 0.5:
        summary.append(f"The {species} is about {size} centimeters long.")
    return "science", article, summary


TOPICS = [earnings, match, storm, council, discovery]
SIZES = {"train": 220, "validation": 30, "test": 60}


def generate() -> dict[str, list[dict]]:
    """Unique articles, topics in turn, split into train, validation and test."""
    rng = random.Random(SEED)
    records, seen = [], set()
    total = sum(SIZES.values())
    while len(records) < total:
        topic, article, summary = TOPICS[len(records) % len(TOPICS)](rng)
        text = " ".join(article)
        if text in seen:
            continue
        seen.add(text)
        records.append({"id": f"news-{len(records):04d}", "topic": topic, "article": text,
                        "summary": " ".join(summary)})
    rng.shuffle(records)
    splits, start = {}, 0
    for split, size in SIZES.items():
        splits[split] = records[start : start + size]
        start += size
    return splits


def main() -> None:
    from helpers.data import write_splits

    write_splits(generate(), HERE)


if __name__ == "__main__":
    main()
