"""Who may be offered a job: the one eligibility rule for listing, dispatch and manual assignment.

Pure: SQL fragments and the level thresholds, which the storage modules build their queries from.

A worker is *eligible* for a job needing ``skill`` on ``day`` when ``ELIGIBLE_WORKER_SQL`` holds:
vetted, identity verified, a verified health certificate valid on that day, and a verified skill
certificate for a skill the worker lists, valid on that day. Customers only ever see eligible
workers; admins see everyone with their vetting record.
"""

from __future__ import annotations

from typing import Literal

Level = Literal["junior", "intermediate", "senior"]
SENIOR_YEARS = 8  # junior: fewer than 3 years; intermediate: 3 to 7; senior: 8 or more
INTERMEDIATE_YEARS = 3


def eligible_worker_sql(
    worker: str = "w", skill: str = "$1", on: str = "$2", *, any_skill: bool = False
) -> str:
    """The SQL predicate "this worker may be offered a job needing ``skill`` on day ``on``".

    ``worker`` is the alias of the ``workers`` row; ``skill`` is a SQL expression of type text
    (or text[] with ``any_skill=True``: a certificate for any one of those skills will do, e.g.
    ``w.skills`` for "eligible for anything"); ``on`` is a SQL expression of type date (the job's
    local date, so a certificate expiring that day still counts).
    """
    skill_match = f"sc.skill = ANY({skill})" if any_skill else f"sc.skill = {skill}"
    return f"""({worker}.vetting_status = 'vetted' AND {worker}.identity_verified
    AND EXISTS (SELECT 1 FROM worker_certificates hc
                WHERE hc.worker_id = {worker}.id AND hc.kind = 'health' AND hc.verified
                  AND hc.expires_on >= ({on})::date)
    AND EXISTS (SELECT 1 FROM worker_certificates sc
                WHERE sc.worker_id = {worker}.id AND sc.kind = 'skill' AND sc.verified
                  AND sc.expires_on >= ({on})::date AND {skill_match}
                  AND sc.skill = ANY({worker}.skills)))"""


#: Workers aliased ``w``; ``$1`` the skill (text), ``$2`` the job's local date (date).
#: ``SELECT w.id FROM workers w WHERE {ELIGIBLE_WORKER_SQL}`` lists who may be offered the job.
ELIGIBLE_WORKER_SQL = eligible_worker_sql()


LEVEL_SQL = (
    f"(CASE WHEN w.years_experience >= {SENIOR_YEARS} THEN 'senior'"
    f" WHEN w.years_experience >= {INTERMEDIATE_YEARS} THEN 'intermediate' ELSE 'junior' END)"
)


def level_of(years_experience: int) -> Level:
    if years_experience >= SENIOR_YEARS:
        return "senior"
    if years_experience >= INTERMEDIATE_YEARS:
        return "intermediate"
    return "junior"
