"""``python -m chatbot_tester`` runs the CLI."""

from chatbot_tester.cli.main import entry

entry()
