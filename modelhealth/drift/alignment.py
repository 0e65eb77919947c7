"""Whether stored bins line up with the bins they are compared with.

A stored histogram row is ``feature bin label count``: ``bin`` is a position in the profile
the SDK had when it logged the window, ``label`` says what that bin was (a category,
``__other__``, or numeric edges like ``[1.5,3)``). Comparing by position alone is only right
when the SDK's profile and the comparison's are the same: an SDK started without a profile
stores every categorical value in bin 0 ``__other__``, which a reference calls its first
category, so a fully drifted feature read PSI 0.06 (no drift). Counts cannot be moved to the
right bin in general (``__other__`` of one profile mixes categories of another; different
edges split values differently), so a feature whose stored labels disagree with the bins it
is compared with is *not judged*: NaN with the reason, never a falsely green number.

    why = misaligned([current, baseline], reference)   # {"country": "stored bin 0 ..."}

A feature the SDK had no profile for at all is stored as one bin, ``__other__`` at bin 0,
whatever its values: two such windows always read 0 (no drift), so it is not judged either.

Rows without a label (stored before labels were kept) are compared by position, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from modelhealth.ingestion.reference import FeatureReference, ModelReference
from modelhealth.ingestion.schema import OTHER_CATEGORY, stored_label

_KEYS = ["feature", "bin", "label"]


def expected_labels(feature: FeatureReference) -> list[str]:
    """The labels the SDK stores for ``feature``'s bins, in bin order (as both stores keep them)."""
    return [stored_label(lb) for lb in feature.bin_labels()]


def misaligned(
    frames: Iterable[pd.DataFrame], reference: ModelReference | None = None
) -> dict[str, str]:
    """Features whose stored bins cannot be compared position by position, with the reason.

    With ``reference``, a profiled feature's stored labels must be the reference's label of
    the same bin. Features the reference does not profile must agree across ``frames``: each
    bin one label and each label one bin (two windows binned with different profiles), and
    must have been binned with some profile (not only ``__other__``, see :func:`_unbinned`)."""
    seen = _labelled_rows(frames)
    if seen.empty:
        return {}
    refs: Mapping[str, FeatureReference] = reference.features if reference is not None else {}
    profiled = seen["feature"].isin(list(refs))
    out = _against_reference(seen[profiled], refs)
    out.update(_between_frames(seen[~profiled]))
    for name, why in _unbinned(seen[~profiled]).items():
        out.setdefault(name, why)
    return out


def _labelled_rows(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Distinct ``feature bin label`` of non-empty bins that carry a label."""
    parts = []
    for frame in frames:
        if frame.empty or "label" not in frame.columns:
            continue
        rows = frame.loc[frame["count"] > 0, _KEYS].drop_duplicates()  # bucketed: many repeats
        rows = rows[rows["label"].notna()]
        parts.append(rows.astype({"feature": str, "bin": "int64", "label": str}))
    if not parts:
        return pd.DataFrame(columns=_KEYS)
    seen = pd.concat(parts, ignore_index=True).drop_duplicates()
    return seen[seen["label"] != ""]


def _against_reference(seen: pd.DataFrame, refs: Mapping[str, FeatureReference]) -> dict[str, str]:
    if seen.empty:
        return {}
    expected = pd.DataFrame(
        [
            (name, b, lb)
            for name in seen["feature"].unique()
            for b, lb in enumerate(expected_labels(refs[name]))
        ],
        columns=["feature", "bin", "expected"],
    )
    rows = seen.merge(expected, on=["feature", "bin"], how="left")
    bad = rows[rows["expected"].isna() | (rows["label"] != rows["expected"])]
    return {
        str(name): _reference_reason(str(name), refs[str(name)], group)
        for name, group in bad.groupby("feature", sort=True)
    }


def _reference_reason(name: str, ref: FeatureReference, bad: pd.DataFrame) -> str:
    if ref.kind == "categorical" and set(bad["label"]) == {OTHER_CATEGORY} and ref.categories:
        return (
            f"feature {name!r}: the SDK stored its values as {OTHER_CATEGORY} (it had no "
            f"profile, or another one, for it) where the reference has {len(ref.categories)} "
            "categories; they cannot be compared, so its drift is not judged (log it with "
            "this reference profile)"
        )
    row = bad.sort_values("bin").iloc[0]
    b, label, want = int(row["bin"]), row["label"], row["expected"]
    where = f"is {want!r} in the reference" if isinstance(want, str) else "is not in the reference"
    return (
        f"feature {name!r}: stored bin {b} is {label!r} but bin {b} {where} (the SDK binned it "
        "with another profile); not judged (log it with this reference profile)"
    )


def _unbinned(seen: pd.DataFrame) -> dict[str, str]:
    """Features whose every stored row is bin 0 ``__other__``: the SDK had no profile for them.

    Without a profile the SDK puts every categorical value in that one bin, so a baseline of
    all "DE" and a window of all "US" were the same histogram: the rules engine read PSI 0 for
    a feature that changed completely (``drift_table`` reads NaN, and now says why)."""
    if seen.empty:
        return {}
    other = (seen["bin"] == 0) & (seen["label"] == OTHER_CATEGORY)
    only_other = other.groupby(seen["feature"]).all()
    return {
        str(n): (
            f"feature {n!r}: the SDK had no profile for it, so every value was stored as "
            f"{OTHER_CATEGORY} (one bin) and no change can show; not judged (log it with a "
            "reference profile that has it)"
        )
        for n in sorted(only_other[only_other].index)
    }


def _between_frames(seen: pd.DataFrame) -> dict[str, str]:
    if seen.empty:
        return {}
    per_bin = seen.groupby(["feature", "bin"])["label"].nunique()
    per_label = seen.groupby(["feature", "label"])["bin"].nunique()
    names = set(per_bin[per_bin > 1].index.get_level_values(0))
    names |= set(per_label[per_label > 1].index.get_level_values(0))
    return {
        str(n): (
            f"feature {n!r}: its bins differ between the histograms compared (the SDK binned "
            "them with different profiles); not judged"
        )
        for n in sorted(names)
    }
