"""Names for made-up people and schools, and how a name becomes a login or a mail address.

Names follow from an index alone (:func:`name_hash`), so a delta can re-derive a user
without replaying a random stream.
"""
from __future__ import annotations

import unicodedata

GIVEN_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofía", "José", "Zoë", "Chloé",
    "Aaliyah", "Jayden", "Mía", "Lucas", "Amara", "Ethan", "Fatima", "Muhammad", "Priya",
    "Arjun", "Mei", "Hiroshi", "Yuki", "Seo-yeon", "Min-jun", "Anaïs", "Renée", "Björn",
    "Søren", "Łukasz", "Siobhán", "Aoife", "Ngozi", "Chidi", "Kwame", "Imani", "Dmitri",
    "Camila", "Santiago", "Valentina", "Diego", "Isabella", "Gabriel", "Elena", "Inês",
    "Đức", "Quỳnh", "Oluwaseun", "Leilani", "Kai", "Malia", "Jürgen", "Aiyana", "Dakota",
    "Jean-Luc", "Mary Ann", "D'Andre", "Þóra", "Çağlar", "Noémie",
)
FAMILY_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Martínez", "Rodríguez",
    "Hernández", "López", "González", "Pérez", "Sánchez", "Nguyễn", "Trần", "Lê", "Phạm",
    "Đặng", "Kim", "Lee", "Park", "Chen", "Wang", "Zhang", "Patel", "Shah", "Singh", "Khan",
    "Ahmed", "O'Brien", "O'Connor", "McDonald", "MacLeod", "D'Angelo", "Müller", "Schröder",
    "Kowalczyk", "Wójcik", "Nowak", "Jørgensen", "Ólafsdóttir", "Ivanova", "Okafor",
    "Adeyemi", "Mensah", "Van der Berg", "De la Cruz", "Smith-Jones", "St. James", "Begay",
    "Yazzie", "Kealoha", "Cohen", "Rossi", "Dubois", "Lefèvre", "Nakamura", "Tanaka",
    "Haddad", "Yılmaz", "Öztürk", "Çelik", "Kuznetsov",
)
PLACES = ("Lakeside", "Cedar Valley", "Riverside", "Maple Grove", "Pine Ridge", "Española Valley",
          "Red Rock", "Harbor Point", "Prairie View", "Mānoa")
NAMESAKES = (
    "Abraham Lincoln", "César Chávez", "Maya Angelou", "Sojourner Truth", "Roberto Clemente",
    "Ellen Ochoa", "Dolores Huerta", "Sally Ride", "Frederick Douglass", "Harriet Tubman",
    "Sequoyah", "Patsy Mink", "Mae Jemison", "Thurgood Marshall", "Rosa Parks",
    "Jackie Robinson", "Amelia Earhart", "Booker T. Washington", "Sonia Sotomayor", "Hillcrest",
    "Westview", "Riverbend", "Oak Grove", "Maple Heights", "Lakeview", "Sunnyside",
    "Meadowbrook", "Eastside", "Northgate", "Cedar Creek", "Willow Springs", "Bayside",
    "Highland", "Fairview", "Valle Verde", "Las Lomas", "Mesa Vista",
)
# NFKD leaves these letters whole; usernames and mail addresses must be plain ASCII.
_ASCII_LETTERS = str.maketrans({"Đ": "D", "đ": "d", "Ł": "L", "ł": "l", "Ø": "O", "ø": "o",
                                "ı": "i", "ß": "ss", "Þ": "Th", "þ": "th", "Æ": "Ae", "æ": "ae"})


def ascii_slug(name: str) -> str:
    """``"Nguyễn" -> "nguyen"``, ``"O'Brien" -> "obrien"``: a name as a login or mail part."""
    plain = unicodedata.normalize("NFKD", name.translate(_ASCII_LETTERS))
    return "".join(c for c in plain if c.isascii() and c.isalnum()).lower()


GIVEN_SLUGS = tuple(map(ascii_slug, GIVEN_NAMES))
FAMILY_SLUGS = tuple(map(ascii_slug, FAMILY_NAMES))


def name_hash(seed: int, salt: int, index: int) -> int:
    # A cheap integer mix: names must follow from the index alone (a delta re-derives a user
    # without replaying a random stream), yet look unrelated between neighbours.
    h = (index * 0x9E3779B1 + seed * 0x85EBCA6B + salt * 0xC2B2AE35) & 0xFFFFFFFF
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & 0xFFFFFFFF
    return h ^ (h >> 12)

