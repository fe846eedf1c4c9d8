"""Migration IDs: 192 random bits in URL-safe text, never read as a command-line option."""

import re

from services.intake.migration_start import new_migration_id


def test_an_id_drawn_with_a_leading_dash_is_drawn_again() -> None:
    drawn = iter(["-In5dash", "--two", "Ok_id-with-dash"])
    assert new_migration_id(lambda n: next(drawn)) == "Ok_id-with-dash"


def test_real_ids_are_32_url_safe_characters_without_a_leading_dash() -> None:
    ids = {new_migration_id() for _ in range(2000)}  # ~31 of 2,000 would begin with "-" if not drawn again
    assert len(ids) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{31}", i) for i in ids)
