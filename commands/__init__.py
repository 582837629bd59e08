"""The CLI's commands, one module per family, all in one style.

A command module declares its click commands with their arguments, options and help
(`@click.command(...)`, `@pass_app` from support.py for the app context), imports engine modules
inside the command bodies (so `rectify --help` starts without SQLAlchemy, Alembic or
APScheduler), prints, and lets errors propagate: `support.run` turns them into exit codes and
one line on stderr. `cli.py` builds the groups and registers each command with one line
(`item.add_command(items.advance)`); a new family is a new module here plus those lines.
"""
