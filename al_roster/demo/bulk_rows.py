"""The rows of a district's bulk files, streamed section by section.

Rows are tuples in the column order of :mod:`al_roster.oneroster.entities`, the three
leading columns first; what the files must carry is checked by reading them back with the
sync's own reader (tests/test_generator_schema.py).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from .shape import LEVEL_GRADES, SUBJECTS, Band, Cohort, District, School, SchoolYear


def org_rows(district: District) -> Iterator[tuple]:
    code = f"D{district.seed:04d}"
    yield ("org-0000", "", "", district.name, "district", code, "")
    for school in district.schools:
        yield (school.sourced_id, "", "", school.name, "school",
               f"{code}-S{school.number:04d}", "org-0000")


def _course_title(level: str, slot: int, grade: str) -> tuple[str, str, str]:
    code, subject, titles = SUBJECTS[level][slot]
    if isinstance(titles, str):
        label = "Kindergarten" if grade == "KG" else f"Grade {int(grade)}"
        return f"{code}{grade}", subject, titles.format(grade=label)
    return f"{code}{grade}", subject, titles[LEVEL_GRADES[level].index(grade)]


def course_rows(district: District, year: SchoolYear) -> Iterator[tuple]:
    for school in district.schools:
        for cohort in school.cohorts:
            for slot in range(cohort.slots):
                code, subject, title = _course_title(cohort.level, slot, cohort.grade)
                yield (f"crs-{cohort.first_course + slot:06d}", "", "", year.sourced_id, title,
                       code, cohort.grade, school.sourced_id, subject, "")


def _sections(district: District) -> Iterator[tuple[School, Band, Cohort, int]]:
    for school in district.schools:
        for band in school.bands:
            for cohort in band.cohorts:
                for section in range(cohort.sections):
                    yield school, band, cohort, section


def _room(school: School, teacher: int) -> str:
    number = teacher - school.first_teacher + 101
    # Some rooms are in an annex: a location with a comma, which the CSV must quote.
    return f"Room {number}, Annex" if number % 12 == 0 else f"Room {number}"


def class_rows(district: District, year: SchoolYear) -> Iterator[tuple]:
    for school, band, cohort, section in _sections(district):
        r = cohort.band_offset + section
        for slot in range(cohort.slots):
            code, subject, title = _course_title(cohort.level, slot, cohort.grade)
            period = (slot + r) % cohort.slots + 1
            yield (f"cls-{cohort.first_class + section * cohort.slots + slot:06d}", "", "",
                   f"{title} - Period {period}", cohort.grade,
                   f"crs-{cohort.first_course + slot:06d}", f"{code}-{section + 1:02d}",
                   "scheduled", _room(school, band.teacher(slot, r)), school.sourced_id,
                   year.terms, subject, "", str(period))


def _teacher_enrollments(band: Band, cohort: Cohort, section: int, school_id: str,
                         dates: tuple[str, str]) -> list[tuple]:
    r, rows = cohort.band_offset + section, []
    co_teacher = band.co_teacher(r)
    for slot in range(cohort.slots):
        klass = cohort.first_class + section * cohort.slots + slot
        rows.append((f"enr-t{klass:06d}-1", "", "", f"cls-{klass:06d}", school_id,
                     f"tch-{band.teacher(slot, r):05d}", "teacher", "true", *dates))
        if co_teacher is not None:
            rows.append((f"enr-t{klass:06d}-2", "", "", f"cls-{klass:06d}", school_id,
                         f"tch-{co_teacher:05d}", "teacher", "false", *dates))
    return rows


def enrollment_batches(district: District, year: SchoolYear) -> Iterator[Iterable[tuple]]:
    begin, end = year.classes_begin, year.classes_end
    for school, band, cohort, section in _sections(district):
        sid = school.sourced_id
        yield _teacher_enrollments(band, cohort, section, sid, (begin, end))
        first = cohort.first_class + section * cohort.slots
        classes = [(str(slot), f"cls-{first + slot:06d}") for slot in range(cohort.slots)]
        # The hot loop of the whole module (most rows are here): one generator expression,
        # no calls per row.
        yield ((f"enr-{n}-{slot}", "", "", cid, sid, f"stu-{n}", "student", "", begin, end)
               for n in map("{:07d}".format, cohort.students_of(section))
               for slot, cid in classes)

