"""PostgreSQL: the results' references to ``sites`` and ``uploads`` are checked once per
statement instead of once per row.

A foreign key runs a trigger for every inserted row (a look-up and a ``FOR KEY SHARE`` lock
of the parent row): for a bulk ``COPY`` of results that was about half of the server's time
(300 k rows: 5.8-6.5 s of backend CPU with the two foreign keys, 3.3 s without, 3.4 s with
this check). The two foreign keys of ``results`` (``fk_results_site_sites``,
``fk_results_upload_id_uploads``) are replaced by triggers that keep the same guarantee for
every writer, under the same constraint names and the same SQLSTATE 23503
(``foreign_key_violation``, an ``IntegrityError`` for SQLAlchemy):

* insert into ``results``: one statement-level trigger over the statement's new rows
  (transition table) locks the distinct referenced ``sites`` and ``uploads`` rows
  ``FOR KEY SHARE``, as the foreign key does, and fails when one of them is missing;
* update of ``results.site`` or ``results.upload_id``: a row trigger, only for rows whose
  reference changed;
* delete of a ``sites`` / ``uploads`` row, or update of its key, that a result still refers
  to: a row trigger at the end of the statement (as ``NO ACTION``); ``TRUNCATE`` of either
  table while results exist fails.

Concurrency is that of the foreign key in READ COMMITTED (the service's isolation level): a
parent row locked by an insert cannot be deleted before that insert commits, and the deleting
statement's check then sees the committed results. SQLite keeps its foreign keys (there they
cost about 5 % of a bulk insert); ``tables.py`` declares them for both databases and
:data:`wastewater.storage.tables.POSTGRESQL_TRIGGER_CHECKED_FKS` names the two that
PostgreSQL checks by these triggers instead.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# (constraint, column, parent table, parent column)
_REFERENCES = (("fk_results_site_sites", "site", "sites", "site"),
               ("fk_results_upload_id_uploads", "upload_id", "uploads", "upload_id"))


def _child_check() -> str:
    locks = "\n".join(
        f"  PERFORM 1 FROM {parent} p WHERE p.{pcol} IN (SELECT DISTINCT n.{col} FROM new_rows n)"
        f" FOR KEY SHARE OF p;" for _, col, parent, pcol in _REFERENCES)
    checks = "\n".join(f"""  SELECT n.{col}::text INTO missing FROM (SELECT DISTINCT {col} FROM new_rows) n
   WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{pcol} = n.{col}) LIMIT 1;
  IF FOUND THEN
    RAISE foreign_key_violation USING
      MESSAGE = 'insert or update on table "results" violates foreign key constraint "{name}"',
      DETAIL = 'Key ({col})=(' || missing || ') is not present in table "{parent}".',
      CONSTRAINT = '{name}', TABLE = 'results';
  END IF;""" for name, col, parent, pcol in _REFERENCES)
    return f"""
CREATE FUNCTION results_check_parents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE missing text;
BEGIN
{locks}
{checks}
  RETURN NULL;
END $$;
CREATE TRIGGER results_check_parents_insert AFTER INSERT ON results
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION results_check_parents();
"""


def _child_update_check() -> str:
    checks = "\n".join(f"""  IF NEW.{col} IS DISTINCT FROM OLD.{col} THEN
    PERFORM 1 FROM {parent} p WHERE p.{pcol} = NEW.{col} FOR KEY SHARE OF p;
    IF NOT FOUND THEN
      RAISE foreign_key_violation USING
        MESSAGE = 'insert or update on table "results" violates foreign key constraint "{name}"',
        DETAIL = 'Key ({col})=(' || NEW.{col}::text || ') is not present in table "{parent}".',
        CONSTRAINT = '{name}', TABLE = 'results';
    END IF;
  END IF;""" for name, col, parent, pcol in _REFERENCES)
    return f"""
CREATE FUNCTION results_check_parents_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{checks}
  RETURN NULL;
END $$;
CREATE TRIGGER results_check_parents_update AFTER UPDATE OF site, upload_id ON results
  FOR EACH ROW WHEN (NEW.site IS DISTINCT FROM OLD.site OR NEW.upload_id IS DISTINCT FROM OLD.upload_id)
  EXECUTE FUNCTION results_check_parents_row();
"""


def _parent_checks() -> str:
    out = []
    for name, col, parent, pcol in _REFERENCES:
        out.append(f"""
CREATE FUNCTION {parent}_check_results() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF EXISTS (SELECT 1 FROM results) THEN
      RAISE foreign_key_violation USING
        MESSAGE = 'cannot truncate table "{parent}": table "results" refers to it ({name})',
        CONSTRAINT = '{name}', TABLE = '{parent}';
    END IF;
    RETURN NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM results r WHERE r.{col} = OLD.{pcol})
     AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{pcol} = OLD.{pcol}) THEN
    RAISE foreign_key_violation USING
      MESSAGE = 'update or delete on table "{parent}" violates foreign key constraint "{name}" on table "results"',
      DETAIL = 'Key ({pcol})=(' || OLD.{pcol}::text || ') is still referenced from table "results".',
      CONSTRAINT = '{name}', TABLE = '{parent}';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER {parent}_check_results_delete AFTER DELETE ON {parent}
  FOR EACH ROW EXECUTE FUNCTION {parent}_check_results();
CREATE TRIGGER {parent}_check_results_update AFTER UPDATE OF {pcol} ON {parent}
  FOR EACH ROW WHEN (NEW.{pcol} IS DISTINCT FROM OLD.{pcol}) EXECUTE FUNCTION {parent}_check_results();
CREATE TRIGGER {parent}_check_results_truncate BEFORE TRUNCATE ON {parent}
  FOR EACH STATEMENT EXECUTE FUNCTION {parent}_check_results();
""")
    return "".join(out)


def _statements(sql: str) -> list[str]:
    """The DDL one statement at a time (a function body ends with ``$$;``, a trigger with ``;``)."""
    out, current = [], []
    for line in sql.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if line.endswith(";") and (not text.startswith("CREATE FUNCTION") or line.endswith("$$;")):
            out.append(text)
            current = []
    assert not current, current
    return out


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for name, _, _, _ in _REFERENCES:
        op.drop_constraint(name, "results", type_="foreignkey")
    for statement in _statements(_child_check() + _child_update_check() + _parent_checks()):
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for _, _, parent, _ in _REFERENCES:
        for what in ("delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER {parent}_check_results_{what} ON {parent}")
        op.execute(f"DROP FUNCTION {parent}_check_results()")
    op.execute("DROP TRIGGER results_check_parents_update ON results")
    op.execute("DROP TRIGGER results_check_parents_insert ON results")
    op.execute("DROP FUNCTION results_check_parents_row()")
    op.execute("DROP FUNCTION results_check_parents()")
    for name, col, parent, pcol in _REFERENCES:
        op.create_foreign_key(name, "results", parent, [col], [pcol])
