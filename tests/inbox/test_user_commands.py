"""`app.py user add|list|deactivate|reactivate` as real processes: what they refuse, what they
print, and that a refusal writes nothing. Each loads the whole app (seconds): few of them; the
logic behind them is tested in test_users.py."""

from __future__ import annotations

from tests.conftest import TEST_CONFIG
from tests.settings.test_config import cli_env, run_app  # noqa: F401  (cli_env: a fixture)

AYSEL = "aysel.kerimova@migration.gov.az"
PASSWORD = "Qarabağ-2020\n"


def add(env, email, *options):
    return run_app(env, "user", "add", email, *options, "--password-stdin", stdin=PASSWORD)


def test_user_add_refuses_what_would_not_work_and_writes_nothing(cli_env, tmp_path):  # noqa: F811
    cli_env["CC_CONFIG"] = str(TEST_CONFIG)
    result = add(cli_env, "notanemail", "--name", "Aysel", "--role", "agent",
                 "--languages", "az,de")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "'notanemail' is not an e-mail address: An email address must have an @-sign.",
        "an agent sees only the conversations of their queues: give --queues (one or more of "
        "migration-registration, migration-support, dost-baku-1, dost-baku-2, call-centre-142, "
        "escalations, triage), or --no-queues to create the account without any on purpose",
        "--languages: unknown language(s) de; use az, ru, en",
        "nothing was saved",
    ]
    assert not (tmp_path / "cli.db").exists()     # refused before the database was touched


def test_user_list_deactivate_and_reactivate(cli_env):  # noqa: F811
    cli_env["CC_CONFIG"] = str(TEST_CONFIG)
    assert add(cli_env, AYSEL, "--name", "Aysel Kərimova", "--role", "agent", "--queues",
               "migration-registration,triage", "--languages", "az,ru").returncode == 0
    # An agent without queues only when asked for on purpose.
    result = add(cli_env, "trainee@migration.gov.az", "--name", "Trainee", "--role", "agent",
                 "--no-queues")
    assert result.returncode == 0, result.stderr

    result = run_app(cli_env, "user", "deactivate", AYSEL.upper())
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (f"user 1 <{AYSEL.upper()}> deactivated: 0 session(s) ended, "
                             f"0 conversation(s) returned to their queues\n")
    assert run_app(cli_env, "user", "list").stdout.splitlines() == [
        "ID  E-MAIL                           NAME            ROLE   ACCESS       PRESENCE  "
        "QUEUES                         LANGUAGES",
        "1   aysel.kerimova@migration.gov.az  Aysel Kərimova  agent  deactivated  offline   "
        "migration-registration,triage  az,ru",
        "2   trainee@migration.gov.az         Trainee         agent  active       offline   "
        "-                              az",
    ]
    # Updating her (a new queue) leaves her deactivated, and says so.
    result = add(cli_env, AYSEL, "--name", "Aysel Kərimova", "--role", "agent", "--queues",
                 "triage", "--languages", "az,ru")
    assert result.stdout.splitlines() == [
        f"user 1 <{AYSEL}> saved as agent",
        "the account is deactivated; `user reactivate` restores access"]

    result = run_app(cli_env, "user", "reactivate", AYSEL)
    assert result.stdout == f"user 1 <{AYSEL}> reactivated: they can sign in again\n"
    result = run_app(cli_env, "user", "deactivate", "nobody@migration.gov.az")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "no user has the e-mail address nobody@migration.gov.az\n"
