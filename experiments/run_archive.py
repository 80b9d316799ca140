"""Keep issue #27's finished rows in the repository, so that a machine that is replaced loses no finished work.

The run folder (/work/runs/issue27_controls) is outside the checkout, and a new machine starts without it: on
2026-12-07 the folder of 23 hours of runs was lost that way. This tool copies what the analysis needs of every
finished row (its stage files, the per-problem predictions of its validation, test, reworded and near-duplicate
scores, RFT's kept replies) into ``experiments/runs/<run>/``, one deterministic ``.tar.gz`` per row, to be committed;
and puts them back into a new run folder before the run resumes. Model weights are not kept (too large for git).

    python experiments/run_archive.py save /work/runs/issue27_controls experiments/runs/issue27_controls
    python experiments/run_archive.py restore experiments/runs/issue27_controls /work/runs/issue27_controls

Rows still to be trained from a seed's warm start need that warm start's merged weights, which are not kept: for
such a seed, ``restore`` leaves out SFT(R)'s training and selection files, so the run trains and selects it again
(about 5 minutes, deterministic; the archived selection is kept beside it as ``sft_r_s<seed>_select.archived.json``
for comparison) and skips its evaluation. A row that had not finished is not kept: it runs again from its start.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path

# experiments/ is on sys.path when this file runs as a script (and the tests put it there).
from controls import PLAN_SEEDS, PRIMARY_ARMS, SECONDARY_ARMS, TUNED_ARMS, row_name

BLOCKS = ((PLAN_SEEDS["primary"], PRIMARY_ARMS), (PLAN_SEEDS["secondary"], SECONDARY_ARMS))

STAGE_FILE = re.compile(r"(?P<row>.+_s\d+)_(?P<stage>train|select|eval|samples)\.json")
# Inside a row's prediction folders, only these files are kept (not the batch logs of ``partial/``).
KEPT_FILES = ("predictions.jsonl", "summary.json", "kept.json")
TOP_FILES = ("code_commit.txt", "commands.jsonl", "data.json")


def stages_by_row(out: Path) -> dict[str, set[str]]:
    rows: dict[str, set[str]] = {}
    for path in out.glob("*.json"):
        match = STAGE_FILE.fullmatch(path.name)
        if match:
            rows.setdefault(match["row"], set()).add(match["stage"])
    return rows


def chosen_learning_rates(out: Path) -> dict[str, float]:
    """Phase 0's choice per tuned arm, where phase 0 has finished."""
    chosen = {}
    for arm in TUNED_ARMS:
        path = out / f"phase0_{arm}_lr.json"
        if path.is_file():
            chosen[arm] = float(json.loads(path.read_text())["chosen_lr"])
    return chosen


def finished_rows(out: Path) -> list[str]:
    """Rows with nothing left to run: evaluated rows, RFT's samples, and phase 0's rates that were not chosen."""
    chosen = chosen_learning_rates(out)
    finished = []
    for row, stages in stages_by_row(out).items():
        arm, seed = row.split("_lr")[0] if "_lr" in row else None, int(row.rsplit("_s", 1)[1])
        # Only phase 0 trains a tuned arm at a rate other than its chosen one.
        phase0_loser = arm in chosen and "select" in stages and row != row_name(arm, seed, chosen[arm])
        if "eval" in stages or "samples" in stages or phase0_loser:
            finished.append(row)
    return sorted(finished)


def rows_still_to_run(seed: int, finished: Iterable[str], chosen: dict[str, float]) -> list[str]:
    """The rows of ``seed`` in the schedule that are not finished. A tuned arm before phase 0's choice counts as one
    (once the choice is made, phase 0's other rates are finished)."""
    finished = set(finished)
    expected = []
    for seeds, arms in BLOCKS:
        if seed not in seeds:
            continue
        for arm in arms:
            if arm == "rft":
                expected.append(f"rft_s{seed}")  # its samples
            if arm in TUNED_ARMS:
                expected.append(row_name(arm, seed, chosen[arm]) if arm in chosen else f"{arm}_phase0")
            else:
                expected.append(row_name(arm, seed))
    return [row for row in expected if row not in finished]


def row_files(out: Path, row: str) -> list[Path]:
    """A row's stage files and the kept files of its prediction folders (``<row>_<split>/``, ``<row>_val/...``)."""
    files = [path for path in out.glob(f"{row}_*.json") if STAGE_FILE.fullmatch(path.name)]
    for folder in out.glob(f"{row}_*"):
        if folder.is_dir():
            files += [p for p in folder.rglob("*") if p.name in KEPT_FILES and "partial" not in p.parts]
    return sorted(files)


def write_tar(target: Path, files: Sequence[Path], root: Path) -> None:
    """A .tar.gz whose bytes depend only on the files' names and contents (no times, owners), so that saving the
    same row again changes nothing in git."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(str(path.relative_to(root)))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    packed = gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0)
    if not target.is_file() or target.read_bytes() != packed:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(packed)


def save(out: Path, archive: Path) -> list[str]:
    """Archive every finished row of ``out`` (and the run's own files); returns the rows archived."""
    rows = finished_rows(out)
    for row in rows:
        write_tar(archive / "rows" / f"{row}.tar.gz", row_files(out, row), out)
    top = [out / name for name in TOP_FILES if (out / name).is_file()] + sorted(out.glob("phase0_*.json"))
    write_tar(archive / "run.tar.gz", top, out)
    return rows


def restore(archive: Path, out: Path) -> dict[str, list[str]]:
    """Unpack the archive into a new run folder; SFT(R) of a seed with rows still to run is left to run again."""
    if any(out.glob("*_s[0-9]*")):
        raise SystemExit(f"{out} already holds rows: restore only into a new run folder")
    out.mkdir(parents=True, exist_ok=True)
    _extract(archive / "run.tar.gz", out)
    rows = sorted(path.name.removesuffix(".tar.gz") for path in (archive / "rows").glob("*.tar.gz"))
    chosen = chosen_learning_rates(out)
    redo = [row for row in rows if _warm_start_needed(row, rows, chosen)]
    for row in rows:
        # A retrained warm start's selection file is unpacked, then renamed: it stays beside the new one.
        leave_out = (f"{row}_train.json", f"{row}_val/") if row in redo else ()
        _extract(archive / "rows" / f"{row}.tar.gz", out, leave_out=leave_out)
        if row in redo:
            (out / f"{row}_select.json").rename(out / f"{row}_select.archived.json")
    return {"restored": rows, "warm_start_to_retrain": redo}


def _warm_start_needed(row: str, finished: Sequence[str], chosen: dict[str, float]) -> bool:
    match = re.fullmatch(r"sft_r_s(\d+)", row)
    return bool(match) and bool(rows_still_to_run(int(match[1]), finished, chosen))


def _extract(path: Path, out: Path, leave_out: Sequence[str] = ()) -> None:
    with tarfile.open(path, mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if not m.name.startswith(tuple(leave_out))]
        for member in members:  # the archives are this tool's own: plain files under the run folder, nothing else
            if not member.isfile() or Path(member.name).is_absolute() or ".." in Path(member.name).parts:
                raise SystemExit(f"{path}: {member.name} is not a file of a run folder")
        # tarfile's own check where this Python has it (3.11.4+; Debian's 3.11.2 does not)
        tar.extractall(out, members=members, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    saving = commands.add_parser("save", help="archive the finished rows of a run folder")
    saving.add_argument("out", type=Path)
    saving.add_argument("archive", type=Path)
    restoring = commands.add_parser("restore", help="unpack an archive into a new run folder")
    restoring.add_argument("archive", type=Path)
    restoring.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "save":
        rows = save(args.out, args.archive)
        print(f"archived {len(rows)} finished rows in {args.archive}: {', '.join(rows) or '-'}")
    else:
        result = restore(args.archive, args.out)
        print(f"restored {len(result['restored'])} rows into {args.out}")
        print(f"SFT(R) to train and select again: {', '.join(result['warm_start_to_retrain']) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
