"""``python -m chatbot_tester.cli ...``: the same command as the ``chatbot-tester`` script."""

from chatbot_tester.cli.main import entry

if __name__ == "__main__":
    entry()
