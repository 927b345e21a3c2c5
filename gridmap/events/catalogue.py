"""The dispatch catalogue (派单目录): category → responsible role or agency and a time limit in working days.

Data, not code: the default below seeds version 1; a CSV (``code,name,responsible,limit_working_days``)
imported makes the next version, exported gives the same columns back. ``responsible`` is written as
the issue's table writes it — ``"<agency> officer"`` for an enforcement agency whose officers are linked
to compounds (police, urban_management, market_regulation), ``"<role> worker"`` / ``"grid worker"`` /
``"grid head"`` for a post of the grid — or simply as a role or ``agency:<name>``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from gridmap.domain import ENFORCEMENT_AGENCIES, ROLES
from gridmap.errors import InvalidInput

CSV_COLUMNS = ("code", "name", "responsible", "limit_working_days")
MAX_LIMIT_DAYS = 60


@dataclass(frozen=True)
class Category:
    """One line of the catalogue: who is responsible (a grid ``role`` or an officer ``agency``)."""

    code: str
    name: str
    role: str | None
    agency: str | None
    limit_working_days: int

    @property
    def responsible(self) -> str:
        if self.agency is not None:
            return f"{self.agency} officer"
        return {"grid_worker": "grid worker", "grid_head": "grid head"}.get(self.role, f"{self.role} worker")

    def as_dict(self, version: int | None = None) -> dict:
        out = {"code": self.code, "name": self.name, "responsible": self.responsible,
               "role": self.role, "agency": self.agency, "limit_working_days": self.limit_working_days}
        if version is not None:
            out["version"] = version
        return out


#: The default catalogue (issue #14's table); edit it freely through ``gridmap events catalogue import``.
DEFAULT = (
    ("street_vending", "占道经营", "urban_management officer", 3),
    ("illegal_construction", "违章搭建", "urban_management officer", 5),
    ("food_safety", "食品安全", "market_regulation officer", 2),
    ("price_fraud", "价格欺诈", "market_regulation officer", 5),
    ("public_security", "治安隐患", "police officer", 1),
    ("noise", "噪音扰民", "police officer", 2),
    ("sanitation", "环境卫生", "sanitation worker", 2),
    ("neighbour_dispute", "邻里纠纷", "grid worker", 5),
    ("facility_damage", "设施损坏", "grid worker", 5),
    ("other", "其他", "grid head", 5),
)


def parse_responsible(text: str) -> tuple[str | None, str | None]:
    """``(role, agency)`` of a responsible text; InvalidInput naming the forms accepted."""
    words = str(text or "").strip().lower().replace("-", "_")
    if words.startswith("agency:"):
        words = f"{words[7:].strip()} officer"
    if words.endswith(" officer"):
        agency = words[: -len(" officer")].strip()
        if agency in ENFORCEMENT_AGENCIES:
            return None, agency
    special = {"grid worker": "grid_worker", "grid head": "grid_head", "grid_worker": "grid_worker",
               "grid_head": "grid_head"}
    if words in special:
        return special[words], None
    role = words[: -len(" worker")].strip() if words.endswith(" worker") else words
    if role in ROLES:
        return role, None
    raise InvalidInput(f"负责方 {text!r} 无法识别 — responsible {text!r} is neither '<agency> officer' "
                       f"({', '.join(ENFORCEMENT_AGENCIES)}) nor a grid role ({', '.join(ROLES)})")


def category(code: str, name: str, responsible: str, limit: object) -> Category:
    """A validated catalogue line."""
    code = str(code or "").strip()
    if not code or not code.replace("_", "").isalnum() or not code.isascii():
        raise InvalidInput(f"类别代码 {code!r} 须为字母数字和下划线 — category code {code!r} must be ASCII "
                           "letters, digits and _")
    if not str(name or "").strip():
        raise InvalidInput(f"类别 {code} 缺少名称 — category {code} has no name")
    try:
        days = int(str(limit).strip())
    except ValueError:
        raise InvalidInput(f"类别 {code} 的时限 {limit!r} 不是整数 — limit_working_days {limit!r} of {code} "
                           "is not a whole number") from None
    if not 1 <= days <= MAX_LIMIT_DAYS:
        raise InvalidInput(f"类别 {code} 的时限须在 1–{MAX_LIMIT_DAYS} 个工作日 — limit of {code} must be "
                           f"1–{MAX_LIMIT_DAYS} working days, not {days}")
    role, agency = parse_responsible(responsible)
    return Category(code, str(name).strip(), role, agency, days)


def default_catalogue() -> list[Category]:
    return [category(*row) for row in DEFAULT]


def read_csv(text: str) -> list[Category]:
    """The categories of a CSV text (already decoded); every bad row named, nothing partial."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(f"派单目录缺少列 {', '.join(missing)} — catalogue CSV lacks columns "
                           f"{', '.join(missing)} (needs {', '.join(CSV_COLUMNS)})")
    out, problems, seen = [], [], set()
    for n, row in enumerate(reader, start=2):
        try:
            item = category(row["code"], row["name"], row["responsible"], row["limit_working_days"])
        except InvalidInput as exc:
            problems.append(f"row {n}: {exc.detail}")
            continue
        if item.code in seen:
            problems.append(f"row {n}: 类别 {item.code} 重复 — category {item.code} appears twice")
        seen.add(item.code)
        out.append(item)
    if problems:
        raise InvalidInput("; ".join(problems[:20]))
    if not out:
        raise InvalidInput("派单目录为空 — the catalogue CSV has no rows")
    if "other" not in seen:
        raise InvalidInput("派单目录须有 other（其他）类别 — the catalogue needs an 'other' category")
    return out


def write_csv(categories: list[Category]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in categories:
        writer.writerow([c.code, c.name, c.responsible, c.limit_working_days])
    return buf.getvalue()


def from_row(row: dict) -> Category:
    """A category from its stored row (role, agency columns)."""
    return Category(row["code"], row["name"], row.get("role"), row.get("agency"), int(row["limit_working_days"]))


__all__ = ["Category", "DEFAULT", "CSV_COLUMNS", "category", "default_catalogue", "read_csv", "write_csv",
           "parse_responsible", "from_row", "asdict"]
