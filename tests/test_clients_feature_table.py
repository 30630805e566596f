"""README.md's method x backend table is exactly what scripts/feature_table.py makes of the
code (IMPLEMENTED, each backend's `methods` and `notifications`): a method added or a
backend that starts serving one changes the table, and this test fails until the README
is regenerated (`python -m scripts.feature_table`, pasted between the markers)."""

from __future__ import annotations

from scripts import feature_table


def test_readme_has_the_generated_feature_table() -> None:
    found = feature_table.readme_block(feature_table.README.read_text())
    assert found is not None, (
        f"README.md has no {feature_table.START} ... {feature_table.END} block: paste the "
        "output of `python -m scripts.feature_table`"
    )
    assert found == feature_table.table(), (
        "README.md's feature table is stale: paste the output of `python -m scripts.feature_table`"
    )


def test_the_table_follows_the_code() -> None:
    """Every implemented method has a row, and each cell says what the backend declares."""
    from signer_core.methods import IMPLEMENTED, SIGNER_METHODS
    from signer_core.wallets import BACKENDS

    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-2]]
        for line in feature_table.table().splitlines()
        if line.startswith("| `")
    }
    assert list(rows) == [f"`{m}`" for m in IMPLEMENTED]
    for i, kind in enumerate(BACKENDS):
        declared = feature_table.declared(kind)[0]
        for method in IMPLEMENTED:
            served = method in declared or method in SIGNER_METHODS
            assert rows[f"`{method}`"][i] == ("yes" if served else "no"), (method, kind)
