"""Problems found in an import file, all of them, in plain words (pure).

Every check appends an :class:`Issue` to an :class:`IssueLog` instead of
raising at the first problem, so a planner fixes a file in one pass. Errors
refuse the file; warnings are reported and the file is imported. The log
keeps at most ``cap`` issues of each severity and counts the rest.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from gridmap.errors import InvalidBoundary, InvalidFile

ERROR = "error"
WARNING = "warning"
#: How many issues of each severity an error message or a report lists.
DEFAULT_CAP = 100

#: Chinese headline of each kind of issue, for the command line (the English ``problem`` follows it).
KIND_ZH = {
    "unreadable": "无法读取",
    "missing_column": "缺少必填列",
    "empty": "必填值为空",
    "duplicate": "编号重复",
    "pattern": "代码格式不符",
    "number": "不是非负整数",
    "choice": "取值不在允许范围内",
    "boolean": "不是 是/否 值",
    "phone": "不是电话号码",
    "geometry": "几何图形有误",
    "reference": "引用的要素不存在",
    "overlap": "与其他社区重叠",
    "outside": "超出上级范围",
    "building_outside": "楼栋在所属小区之外",
    "address_building": "地址的楼栋属于别的小区",
    "address_far": "地址点离所属楼栋/小区太远",
    "mismatch": "前后不一致",
}
LAYER_ZH = {
    "districts": "区县", "streets": "街道", "communities": "社区", "compounds": "小区", "buildings": "楼栋",
    "barriers": "障碍", "addresses": "地址", "service_points": "服务点", "staff": "人员", "grids": "网格",
    "party_orgs": "党组织",
}


@dataclass(frozen=True)
class Issue:
    """One problem of one feature: where it is (layer, feature, column), the value and what is wrong."""

    layer: str  # interchange layer, or the roster file's name
    feature: str  # id or code of the feature, "row 4" in a roster, "" for the layer as a whole
    column: str  # "geometry" for shapes, "" for the layer as a whole
    value: str  # the offending value as plain text ("" when there is none)
    problem: str  # what is wrong, naming the allowed values or the measure
    severity: str = ERROR  # "error" refuses the file, "warning" is reported only
    kind: str = "value"  # one of KIND_ZH: lets readers group issues without parsing text

    def text(self) -> str:
        """One English line: ``buildings: B7, column compound_id: lies 212 m outside ...``."""
        where = ", ".join(p for p in (self.feature, f"column {self.column}" if self.column else "") if p)
        return f"{self.layer}: {where}: {self.problem}" if where else f"{self.layer}: {self.problem}"

    def as_dict(self) -> dict:
        return asdict(self)


def describe_zh(issue: Issue) -> str:
    """A Chinese-first line: ``错误 楼栋 buildings: B7, column compound_id = C3：楼栋在所属小区之外 — ...``."""
    tag = "错误" if issue.severity == ERROR else "警告"
    place = f"{LAYER_ZH[issue.layer]} {issue.layer}" if issue.layer in LAYER_ZH else issue.layer
    if issue.feature:
        place += f": {issue.feature}"
    if issue.column:
        place += f", column {issue.column}" + (f" = {issue.value}" if issue.value else "")
    head = KIND_ZH.get(issue.kind, "")
    return f"{tag} {place}：{head + ' — ' if head else ''}{issue.problem}"


@dataclass
class IssueLog:
    """Issues in the order found; at most ``cap`` of each severity are kept, the rest counted."""

    cap: int = DEFAULT_CAP
    issues: list[Issue] = field(default_factory=list)
    total: dict[str, int] = field(default_factory=lambda: {ERROR: 0, WARNING: 0})

    def add(self, issue: Issue) -> None:
        self.total[issue.severity] += 1
        if self.total[issue.severity] <= self.cap:
            self.issues.append(issue)

    def extend(self, issues) -> None:
        for issue in issues:
            self.add(issue)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == WARNING]

    def omitted(self, severity: str) -> int:
        """How many issues of ``severity`` were found beyond the cap."""
        return max(0, self.total[severity] - self.cap)

    def raise_if_errors(self, source: str) -> None:
        """Raise InvalidFile listing every error (InvalidBoundary when all are about geometry)."""
        if not self.total[ERROR]:
            return
        errors = self.errors
        lines = [i.text() for i in errors]
        more = self.omitted(ERROR)
        if more:
            lines.append(f"... and {more} more error(s)")
        n = self.total[ERROR]
        detail = f"{source}: {n} problem{'s' if n > 1 else ''}, nothing was written:\n" + "\n".join(lines)
        cls = InvalidBoundary if all(i.kind == "geometry" for i in errors) else InvalidFile
        raise cls(detail, issues=tuple(self.issues), omitted=more)


def plain(value: object) -> str:
    """A cell as the text a person would type: no numpy reprs, no '.0' on whole numbers, '' for empty."""
    if value is None or value is np.ma.masked:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return ""
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value).strip()


def quoted(value: object) -> str:
    """``plain`` in quotes, for messages: '-5', '社区民警'."""
    return f"'{plain(value)}'"
