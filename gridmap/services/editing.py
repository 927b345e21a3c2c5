"""Editing a plan by hand (the planner's redraw loop), shared by ``gridmap plan`` and the HTTP API.

Every change locks the plan's row, checks the version the caller saw (If-Match), takes short
leases on the grids it touches, writes the new grids and memberships, re-checks only those
grids with the engine's rules and appends one log row, all in the caller's transaction. The
answer lists the affected grids with their households and violations.
"""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import Connection

from gridmap.crs import metric_crs
from gridmap.editing import diff as diffing
from gridmap.editing import stack
from gridmap.errors import InvalidInput, InvalidTransition, NotFound, PlanError
from gridmap.partition import reshape
from gridmap.partition.rules import DEFAULT_RULES, Rules, rules_for
from gridmap.storage import edits as store
from gridmap.storage.plans import current_plan, generation_record, plan_communities, require_plan
from gridmap.versions import etag

#: How long an edit holds the grids it touched (renewed by each edit of the same author).
LEASE_SECONDS = 120.0
MAX_UNITS = 500


def plan_etag(version: int) -> str:
    return etag("plan", version)


# ---------------------------------------------------------------- copy


def copy(conn: Connection, source: str, target: str, *, author: str, scope: str | None = None,
         code: str | None = None) -> dict:
    """Draft ``target`` from plan ``source`` (or ``current``), optionally only one district, street or community."""
    name = _resolve(conn, source)
    communities = store.scope_communities(conn, scope, code) if scope else None
    if communities is not None:
        own = set(plan_communities(conn, name)) | set(_grid_communities(conn, name))
        communities = [c for c in communities if c in own]
        if not communities:
            raise InvalidInput(f"plan {name!r} has no grids in {scope} {code}")
    params = {k: v for k, v in store.plan_params(conn, name).items() if k in ("rules", "scope", "code")}
    if scope:
        params.update(scope=scope, code=code)
    params.update(source="copy", copied_from=name)
    counts = store.copy_plan(conn, name, target, communities=communities, params=params)
    version = store.record(conn, target, version=0, op="copy", payload={"from": source, "plan": name, **counts,
                                                                          "scope": scope, "code": code},
                           inverse={}, author=author, reason=None)
    # the plan row starts at version 1; the copy's row is version 1
    store.set_version(conn, target, version)
    return {"plan": target, "version": version, "etag": plan_etag(version), "from": name, **counts}


def _grid_communities(conn: Connection, plan: str) -> list[str]:
    from gridmap.storage.grids import read_grids

    return sorted(set(read_grids(conn, plan)["community_code"].astype(str)))


def _resolve(conn: Connection, name: str) -> str:
    """A plan name from a plan name, ``current`` or a generation id."""
    if name == "current":
        found = current_plan(conn)
        if found is None:
            raise PlanError("nothing is published yet: there is no current generation")
        return found
    if name.isdigit():
        return generation_record(conn, int(name))["plan"]
    require_plan(conn, name)
    return name


# ---------------------------------------------------------------- move


def move(conn: Connection, plan: str, *, to: str, compounds: list[str] = (), buildings: list[str] = (),
         author: str, reason: str | None = None, expected_version: int | None = None) -> dict:
    """Move compounds (every member row of each) and buildings of split compounds to grid ``to``
    of the same community; their territories go with them."""
    compounds, buildings = sorted(set(compounds)), sorted(set(buildings))
    if not compounds and not buildings:
        raise InvalidInput("name what to move: --compound ID or --building ID")
    if len(compounds) + len(buildings) > MAX_UNITS:
        raise InvalidInput(f"at most {MAX_UNITS} compounds and buildings per move")
    row = store.lock_plan(conn, plan, expected_version=expected_version)
    units = store.units_of(conn, plan, compounds=compounds, buildings=buildings)
    target = store.grid_rows(conn, plan, [to]).get(to)
    if target is None:
        raise InvalidInput(f"网格 {to} 不在方案 {plan} 中 (grid {to} is not in plan {plan!r})")
    other = sorted({u["community_code"] for u in units} - {target["community_code"]})
    if other:
        raise InvalidInput(f"只能移到同一社区的网格 (a move stays in its community): grid {to} is in community "
                           f"{target['community_code']}, the units named are in {other}")
    units = [u for u in units if u["grid_code"] != to]
    if not units:
        raise InvalidInput(f"已在网格 {to} 中 (everything named is in grid {to} already)")
    sources = sorted({u["grid_code"] for u in units})
    grids = store.grid_rows(conn, plan, sources)
    _refuse_locked([target, *grids.values()])
    codes = sorted({to, *sources})
    store.take_leases(conn, plan, codes, holder=author, seconds=LEASE_SECONDS)
    before = store.snapshot(conn, plan, codes)
    moving = {(u["compound_id"], u["building_id"]) for u in units}
    epsg = metric_crs(float(target["geom"].centroid.x))
    new_geom = {c: grids[c]["geom"] for c in sources}
    taken_all = []
    for code in sources:
        members = store.member_geometries(conn, plan, code)
        flags = [(x["compound_id"], x["building_id"]) in moving for x in members]
        if all(flags):
            raise InvalidInput(f"网格 {code} 的全部小区都被移走 (moving everything out of grid {code} empties it); "
                               f"merge the grids instead: gridmap plan merge {plan} --grid {to} --grid {code}")
        taken, rest = reshape.carve(grids[code]["geom"], [x["geom"] for x in members], flags, epsg=epsg)
        if not reshape.touches(taken, target["geom"]):
            raise InvalidInput(f"网格 {code} 与 {to} 不相邻 (what moves out of grid {code} does not touch grid {to}): "
                               "move to a neighbouring grid")
        new_geom[code] = rest
        taken_all.append(taken)
    new_geom[to] = target["geom"]
    for taken in taken_all:
        new_geom[to] = reshape.joined(new_geom[to], taken)
    after = _after(before, new_geom, moving=moving, to=to)
    moved = sum(int(u["households"]) for u in units)
    payload = {"op": "move", "compounds": compounds, "buildings": buildings, "to": to, "from": sources}
    return _commit(conn, row, "move", payload, before, after, author=author, reason=reason, moved=moved)


def record_reimport(conn: Connection, plan: str, *, moves: list[dict], geoms: dict, author: str,
                    reason: str | None = "QGIS re-import") -> dict:
    """A grids layer re-imported into draft ``plan`` with the same grid codes, as one ``move`` per
    moved compound (``moves`` and ``geoms`` from :func:`gridmap.storage.grids.membership_moves`):
    each is logged, undone and re-checked like the editor's move; a grid's polygon is the imported
    one. Locked grids are refused. Returns the moves' answers and the violation count."""
    row = store.lock_plan(conn, plan)
    answers = []
    for mv in moves:
        codes = sorted({mv["to"], *mv["from"]})
        found = store.grid_rows(conn, plan, codes)
        _refuse_locked(list(found.values()))
        store.take_leases(conn, plan, codes, holder=author, seconds=LEASE_SECONDS)
        before = store.snapshot(conn, plan, codes)
        moving = {(u[0], u[1]) for u in mv["units"]}
        after = _after(before, {c: geoms[c] for c in codes}, moving=moving, to=mv["to"])
        payload = {"op": "move", "compounds": [] if mv["buildings"] else [mv["compound_id"]],
                   "buildings": mv["buildings"], "to": mv["to"], "from": mv["from"], "source": "import"}
        answer = _commit(conn, row, "move", payload, before, after, author=author, reason=reason,
                         moved=int(mv["households"]))
        row = {**row, "version": answer["version"]}
        answers.append({"compound_id": mv["compound_id"], "from": mv["from"], "to": mv["to"],
                        "households": int(mv["households"]), "version": answer["version"],
                        "affected": answer["affected"]})
    violations = sum(len(a["violations"]) for x in answers for a in x["affected"])
    return {"plan": plan, "version": row["version"], "moves": answers, "violations": violations}


def _after(before: dict, geoms: dict, *, moving: set, to: str) -> dict:
    """The snapshot after a move: the units in ``to``, households and polygons recomputed."""
    members = [{**m, "grid_code": to if (m["compound_id"], m["building_id"]) in moving else m["grid_code"]}
               for m in before["members"]]
    held: dict[str, int] = {}
    for m in members:
        held[m["grid_code"]] = held.get(m["grid_code"], 0) + int(m["households"])
    grids = [{**g, "households": held.get(g["code"], 0), "wkb": store.grid_wkb(reshape.as_multi(geoms[g["code"]]))}
             for g in before["grids"]]
    return {"codes": before["codes"], "grids": grids, "members": members}


def _refuse_locked(grids: list[dict]) -> None:
    locked = sorted(g["code"] for g in grids if (g.get("attrs") or {}).get("locked"))
    if locked:
        raise PlanError(f"网格已锁定 (locked grids: {locked}); unlock them first: gridmap plan unlock PLAN --grid CODE")


# ---------------------------------------------------------------- split / merge


def split(conn: Connection, plan: str, *, grid: str, compounds: list[str], author: str,
          reason: str | None = None, expected_version: int | None = None) -> dict:
    """The listed compounds of ``grid`` (with their territory) form a new grid with the community's
    next free code (codes are never reused)."""
    from gridmap.partition.codes import grid_name

    compounds = sorted(set(compounds))
    if not compounds:
        raise InvalidInput("name the compounds of the new grid: --compound ID")
    row = store.lock_plan(conn, plan, expected_version=expected_version)
    source = store.grid_rows(conn, plan, [grid]).get(grid)
    if source is None:
        raise InvalidInput(f"网格 {grid} 不在方案 {plan} 中 (grid {grid} is not in plan {plan!r})")
    _refuse_locked([source])
    members = store.member_geometries(conn, plan, grid)
    outside = sorted(set(compounds) - {m["compound_id"] for m in members})
    if outside:
        raise InvalidInput(f"不在网格 {grid} 中 (not in grid {grid}): {outside[:10]}")
    flags = [m["compound_id"] in compounds for m in members]
    if all(flags):
        raise InvalidInput(f"拆分需留下至少一个小区 (a split leaves at least one compound in grid {grid})")
    cc = source["community_code"]
    code = _next_code(conn, cc)
    epsg = metric_crs(float(source["geom"].centroid.x))
    taken, rest = reshape.carve(source["geom"], [m["geom"] for m in members], flags, epsg=epsg)
    codes = [grid, code]
    store.take_leases(conn, plan, codes, holder=author, seconds=LEASE_SECONDS)
    before = store.snapshot(conn, plan, codes)
    moving = {(m["compound_id"], m["building_id"]) for m, f in zip(members, flags) if f}
    new = {"code": code, "name": grid_name(store.community_name(conn, cc), code), "community_code": cc,
           "households": 0, "attrs": {"split_from": grid}}
    after = _after({**before, "grids": [*before["grids"], new]}, {grid: rest, code: taken}, moving=moving, to=code)
    moved = sum(int(m["households"]) for m, f in zip(members, flags) if f)
    payload = {"op": "split", "grid": grid, "compounds": compounds, "new_grid": code}
    return _commit(conn, row, "split", payload, before, after, author=author, reason=reason, moved=moved)


def _next_code(conn: Connection, community_code: str) -> str:
    used = [int(c[12:]) for c in store.used_codes(conn, community_code) if c[12:].isdigit()]
    n = max(used, default=0) + 1
    if n > 999:
        raise PlanError(f"社区 {community_code} 的网格编码已用完 (no grid code left in community {community_code})")
    return f"{community_code}{n:03d}"


def _grids_of(conn: Connection, plan: str, codes: list[str]) -> dict[str, dict]:
    """The rows of ``codes`` in ``plan``; a code the plan does not have is a 422 naming it."""
    found = store.grid_rows(conn, plan, codes)
    missing = [c for c in codes if c not in found]
    if missing:
        raise InvalidInput(f"not grids of plan {plan!r}: {missing}")
    return found


def _one_community(found: dict[str, dict], *, what: str) -> str:
    """The one community of the grids ``found``; grids of several are a 422 saying ``what`` is allowed."""
    communities = sorted({g["community_code"] for g in found.values()})
    if len(communities) > 1:
        raise InvalidInput(f"{what}: {communities}")
    return communities[0]


def merge(conn: Connection, plan: str, *, grids: list[str], author: str, reason: str | None = None,
          expected_version: int | None = None) -> dict:
    """Merge grids of one community into the first: its code stays, the others are retired."""
    codes = list(dict.fromkeys(grids))
    if len(codes) < 2:
        raise InvalidInput("name at least two grids: --grid CODE --grid CODE")
    row = store.lock_plan(conn, plan, expected_version=expected_version)
    found = _grids_of(conn, plan, codes)
    _one_community(found, what="只能合并同一社区的网格 (merge grids of one community)")
    _refuse_locked(list(found.values()))
    first, others = codes[0], codes[1:]
    geom = found[first]["geom"]
    for c in others:
        if not reshape.touches(geom, found[c]["geom"]):
            raise InvalidInput(f"网格 {c} 与 {first} 不相邻 (grid {c} does not touch the merged grid)")
        geom = reshape.joined(geom, found[c]["geom"])
    store.take_leases(conn, plan, codes, holder=author, seconds=LEASE_SECONDS)
    before = store.snapshot(conn, plan, codes)
    moving = {(m["compound_id"], m["building_id"]) for m in before["members"] if m["grid_code"] in others}
    after = _after({**before, "grids": [g for g in before["grids"] if g["code"] == first]}, {first: geom},
                   moving=moving, to=first)
    moved = sum(int(m["households"]) for m in before["members"] if m["grid_code"] in others)
    payload = {"op": "merge", "grids": codes, "kept": first, "retired": others}
    return _commit(conn, row, "merge", payload, before, after, author=author, reason=reason, moved=moved)


# ---------------------------------------------------------------- rebalance


def rebalance(conn: Connection, plan: str, *, grids: list[str], author: str, reason: str | None = None,
              expected_version: int | None = None) -> dict:
    """The partition engine re-solves just ``grids`` (of one community): every other grid of the
    community is locked for the solve, so only the listed grids' compounds and territory are
    redrawn (unchanged member sets keep their codes)."""
    from gridmap.partition import partition
    from gridmap.storage.grids import partition_inputs, read_grids, read_members

    codes = sorted(set(grids))
    if not codes:
        raise InvalidInput("name the grids to rebalance: --grid CODE")
    row = store.lock_plan(conn, plan, expected_version=expected_version)
    found = _grids_of(conn, plan, codes)
    cc = _one_community(found, what="只能重新平衡同一社区的网格 (rebalance grids of one community)")
    _refuse_locked(list(found.values()))
    every = store.community_codes(conn, plan, cc)
    store.take_leases(conn, plan, every, holder=author, seconds=LEASE_SECONDS)
    inputs = partition_inputs(conn, "community", cc)
    kind = str(inputs["communities"]["kind"].iloc[0]) if len(inputs["communities"]) else "urban"
    current = read_grids(conn, plan, community_codes=[cc])
    members = read_members(conn, plan)
    members = members[members["grid_code"].str[:12] == cc]
    result = partition(communities=inputs["communities"], compounds=inputs["compounds"],
                       buildings=inputs["buildings"], barriers=inputs["barriers"], rules=_rules(row["params"], kind),
                       current=current, current_members=members, locked=frozenset(set(every) - set(codes)),
                       plan=plan, workers=1)
    before = store.snapshot(conn, plan, every)
    kept = {g["code"]: g for g in before["grids"]}
    after_grids = []
    for r in result.grids.itertuples(index=False):
        old = kept.get(str(r.code), {})
        after_grids.append({"code": str(r.code), "name": str(r.name), "community_code": cc,
                            "households": int(r.households), "attrs": old.get("attrs") or {},
                            "wkb": store.grid_wkb(reshape.as_multi(r.geometry))})
    after_members = [{"grid_code": str(m.grid_code), "compound_id": str(m.compound_id),
                      "building_id": None if m.building_id is None or m.building_id != m.building_id
                      else str(m.building_id), "households": int(m.households)}
                     for m in result.members.itertuples(index=False)]
    changed = sorted(set(every) | {g["code"] for g in after_grids})
    after = {"codes": changed, "grids": after_grids, "members": after_members}
    before = store.snapshot(conn, plan, changed)
    payload = {"op": "rebalance", "grids": codes, "community_code": cc}
    return _commit(conn, row, "rebalance", payload, before, after, author=author, reason=reason,
                   moved=_moved(before, after))


# ---------------------------------------------------------------- lock / unlock


def set_lock(conn: Connection, plan: str, *, grids: list[str], locked: bool, author: str,
             reason: str | None = None, expected_version: int | None = None) -> dict:
    """Lock or unlock grids (the engine's rebalance and every edit leave a locked grid alone)."""
    if not grids:
        raise InvalidInput("name the grids: --grid CODE")
    row = store.lock_plan(conn, plan, expected_version=expected_version)
    found = _grids_of(conn, plan, sorted(set(grids)))
    codes = sorted(found)
    store.take_leases(conn, plan, codes, holder=author, seconds=LEASE_SECONDS)
    before = store.snapshot(conn, plan, codes)
    after = {**before, "grids": [{**g, "attrs": _with_lock(g.get("attrs") or {}, locked)} for g in before["grids"]]}
    op = "lock" if locked else "unlock"
    return _commit(conn, row, op, {"op": op, "grids": codes}, before, after, author=author, reason=reason, moved=0)


def _with_lock(attrs: dict, locked: bool) -> dict:
    out = {k: v for k, v in attrs.items() if k != "locked"}
    return {**out, "locked": True} if locked else out


# ---------------------------------------------------------------- undo / redo


def undo(conn: Connection, plan: str, *, author: str, expected_version: int | None = None) -> dict:
    """Revert the latest change not yet undone (a new version)."""
    row = store.lock_plan(conn, plan, expected_version=expected_version)
    version = stack.to_undo(store.stack_ops(conn, plan))
    entry = store.log_entry(conn, plan, version)
    return _replay(conn, row, entry, "undo", entry["inverse"], author=author)


def redo(conn: Connection, plan: str, *, author: str, expected_version: int | None = None) -> dict:
    """Re-apply the latest undone change (a new version)."""
    row = store.lock_plan(conn, plan, expected_version=expected_version)
    version = stack.to_redo(store.stack_ops(conn, plan))
    entry = store.log_entry(conn, plan, version)
    return _replay(conn, row, entry, "redo", entry["payload"]["after"], author=author)


def _replay(conn: Connection, row: dict, entry: dict, op: str, target: dict, *, author: str) -> dict:
    plan = row["name"]
    store.take_leases(conn, plan, target["codes"], holder=author, seconds=LEASE_SECONDS)
    before = store.snapshot(conn, plan, target["codes"])
    payload = {"op": op, "of": entry["version"], "edit": entry["op"]}
    moved = _moved(before, target)
    return _commit(conn, row, op, payload, before, target, author=author, reason=None, moved=moved)


def _moved(before: dict, after: dict) -> int:
    was = {(m["compound_id"], m["building_id"]): m["grid_code"] for m in before["members"]}
    return sum(int(m["households"]) for m in after["members"]
               if was.get((m["compound_id"], m["building_id"])) != m["grid_code"])


# ---------------------------------------------------------------- the common end of every change


def _commit(conn: Connection, row: dict, op: str, payload: dict, before: dict, after: dict, *, author: str,
            reason: str | None, moved: int) -> dict:
    plan = row["name"]
    store.apply_snapshot(conn, plan, after)
    affected = recheck(conn, plan, after["codes"], params=row["params"])
    store.replace_violations(conn, plan, after["codes"], [v for a in affected for v in a["violations"]])
    version = store.record(conn, plan, version=row["version"], op=op, payload={**payload, "after": after},
                           inverse=before, author=author, reason=_reason(reason), households_moved=moved)
    return {"plan": plan, "version": version, "etag": plan_etag(version), "op": op, "households_moved": moved,
            "affected": affected}


def _reason(reason: str | None) -> str | None:
    reason = (reason or "").strip()
    if len(reason) > 2000:
        raise InvalidInput(f"reason: {len(reason)} characters, at most 2000")
    return reason or None


def _rules(params: dict | None, kind: str) -> Rules:
    stored = (params or {}).get("rules") or {}
    rules = {k: Rules(**{f: (tuple(x) if isinstance(x, list) else x) for f, x in v.items()})
             for k, v in stored.items()} if stored else DEFAULT_RULES
    return rules_for(rules, kind)


def recheck(conn: Connection, plan: str, codes: list[str], *, params: dict | None = None) -> list[dict]:
    """The affected grids ``codes`` with households and violations under the engine's rules
    (a code no longer in the plan is listed as removed)."""
    grids = store.grid_rows(conn, plan, codes)
    loads: dict[str, tuple[int, int, str]] = {}
    out = []
    for code in sorted(codes):
        g = grids.get(code)
        if g is None:
            out.append({"code": code, "households": 0, "removed": True, "violations": []})
            continue
        cc = g["community_code"]
        if cc not in loads:
            loads[cc] = store.community_load(conn, plan, cc)
        total, count, kind = loads[cc]
        rules = _rules(params, kind)
        found = reshape.grid_violations(code, cc, int(g["households"]), g["geom"], rules=rules,
                                        community_households=total, community_grids=count,
                                        locked=bool((g.get("attrs") or {}).get("locked")))
        out.append({"code": code, "name": g["name"], "community_code": cc, "households": int(g["households"]),
                    "min_households": rules.min_households, "max_households": rules.max_households,
                    "locked": bool((g.get("attrs") or {}).get("locked")),
                    "violations": [asdict(v) for v in found]})
    return out


# ---------------------------------------------------------------- reading


def plan_state(conn: Connection, plan: str) -> dict:
    """The version and review state of a plan, with its ETag."""
    version, review = store.plan_version(conn, plan)
    return {"plan": plan, "version": version, "review": review, "etag": plan_etag(version)}


def editor_data(conn: Connection, plan: str, *, bbox: tuple[float, float, float, float] | None) -> dict:
    """What the editor page draws: the plan's grids with their bounds, compounds, the current
    generation's grids as a ghost outline (in ``bbox``, EPSG:4490)."""
    require_plan(conn, plan)
    ghost = current_plan(conn)
    layers = store.editor_layers(conn, plan, bbox=bbox, ghost_plan=ghost if ghost != plan else None)
    params = store.plan_params(conn, plan)
    kinds: dict[str, Rules] = {}
    for f in layers["grids"]["features"]:
        cc = f["properties"]["community_code"]
        if cc not in kinds:
            kinds[cc] = _rules(params, store.community_load(conn, plan, cc)[2])
        f["properties"]["min_households"] = kinds[cc].min_households
        f["properties"]["max_households"] = kinds[cc].max_households
    return {**plan_state(conn, plan), "ghost_plan": ghost, **layers}


def log(conn: Connection, plan: str) -> dict:
    require_plan(conn, plan)
    entries = store.edit_log(conn, plan)
    done, undone = stack.replay(entries)
    return {**plan_state(conn, plan), "entries": entries, "can_undo": bool(done), "can_redo": bool(undone)}


def check(conn: Connection, plan: str) -> dict:
    """The full rule check of a plan's own grids (every grid, the engine's per-grid rules), with the
    tiling and membership defects its report records."""
    require_plan(conn, plan)
    from gridmap.publishing import unproved
    from gridmap.storage.grids import read_grids

    codes = list(read_grids(conn, plan)["code"].astype(str))
    grids = recheck(conn, plan, codes, params=store.plan_params(conn, plan))
    defects = [v for v in store.report_violations(conn, plan)
               if v.get("rule") in ("tiling", "membership") and not v.get("carried_from")]
    violations = [v for g in grids for v in g["violations"]] + defects
    return {**plan_state(conn, plan), "grids": len(grids), "violations": violations,
            "unproved": len(unproved(violations)),
            "out_of_bounds": sum(1 for g in grids if not g["min_households"] <= g["households"] <= g["max_households"])}


# ---------------------------------------------------------------- diff


def diff(conn: Connection, a: str, b: str) -> dict:
    """Plan ``a`` against plan ``b`` (each a plan name, ``current`` or a generation id) over the
    communities ``b`` covers."""
    pa, pb = _resolve(conn, a), _resolve(conn, b)
    communities = plan_communities(conn, pb) or _grid_communities(conn, pb)
    out = diffing.compare(store.member_map(conn, pa, communities), store.member_map(conn, pb, communities),
                          store.grid_summaries(conn, pa, communities), store.grid_summaries(conn, pb, communities))
    staff = [{**p, "change": "grid_removed"} for p in store.open_posts(conn, pa, out["grids_removed"])]
    staff += [{**p, "change": "grid_changed"} for p in store.open_posts(conn, pb, out["grids_changed"])]
    headed = {p["grid_code"] for p in store.open_posts(conn, pb, out["grids_added"]) if p["role"] == "grid_head"}
    staff += [{"staff_id": None, "role": "grid_head", "grid_code": c, "change": "needs_grid_head"}
              for c in out["grids_added"] if c not in headed]
    return {"a": a, "b": b, "plan_a": pa, "plan_b": pb, "communities": len(communities), **out,
            "staff_affected": staff}


def diff_layers(conn: Connection, result: dict):
    """(grids, compounds) GeoDataFrames of a diff for QGIS: B's added and changed grids (``change``),
    A's removed ones, the moved compounds with from/to."""
    import pandas as pd

    changed = set(result["grids_changed"])
    grids_b, comps = store.layer_frames(conn, result["plan_b"], [*result["grids_added"], *changed],
                                        [m["compound_id"] for m in result["compounds_moved"]])
    grids_a, _ = store.layer_frames(conn, result["plan_a"], result["grids_removed"], [])
    grids_b["change"] = ["changed" if c in changed else "added" for c in grids_b["code"]]
    grids_a["change"] = "removed"
    grids = pd.concat([grids_b, grids_a], ignore_index=True)
    moved = pd.DataFrame(result["compounds_moved"]).drop_duplicates("compound_id") if result["compounds_moved"] \
        else pd.DataFrame(columns=["compound_id", "from", "to"])
    comps = comps.merge(moved[["compound_id", "from", "to"]], on="compound_id", how="left")
    return grids.set_geometry("geometry"), comps


# ---------------------------------------------------------------- review


def submit(conn: Connection, plan: str, *, author: str, reason: str | None = None,
           expected_version: int | None = None) -> dict:
    """Hand a draft in for approval: the full rule check is recorded with it."""
    row = store.lock_plan(conn, plan, expected_version=expected_version)
    if row["review"] == "submitted":
        raise InvalidTransition(f"方案 {plan} 已提交审批 (plan {plan!r} is submitted already)")
    if row["review"] == "approved":
        raise InvalidTransition(f"方案 {plan} 已批准 (plan {plan!r} is approved already)")
    checked = check(conn, plan)
    payload = {"op": "submit", "grids": checked["grids"], "violations": len(checked["violations"]),
               "unproved": checked["unproved"], "out_of_bounds": checked["out_of_bounds"]}
    version = store.record(conn, plan, version=row["version"], op="submit", payload=payload, inverse={},
                           author=author, reason=_reason(reason), review="submitted")
    return {"plan": plan, "version": version, "etag": plan_etag(version), "review": "submitted", "check": payload,
            "violations": checked["violations"]}


def decide(conn: Connection, plan: str, *, approve: bool, author: str, reason: str | None = None,
           expected_version: int | None = None) -> dict:
    """Approve or reject a submitted plan (the approver's step); a rejection says why."""
    row = store.lock_plan(conn, plan, expected_version=expected_version)
    if row["review"] != "submitted":
        raise InvalidTransition(f"方案 {plan} 未提交审批 (plan {plan!r} is not submitted; it is "
                                f"{row['review'] or 'being edited'}): gridmap plan submit {plan}")
    reason = _reason(reason)
    if not approve and not reason:
        raise InvalidInput("驳回需写明原因 (a rejection needs --reason TEXT)")
    state = "approved" if approve else "rejected"
    op = "approve" if approve else "reject"
    version = store.record(conn, plan, version=row["version"], op=op, payload={"op": op}, inverse={},
                           author=author, reason=reason, review=state)
    return {"plan": plan, "version": version, "etag": plan_etag(version), "review": state, "reason": reason}


def ensure(found: object, what: str) -> None:
    if found is None:
        raise NotFound(what)
