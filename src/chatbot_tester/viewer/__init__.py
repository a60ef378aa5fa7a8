"""``chatbot-tester view``: a local web app over a workspace's runs (history, compare, trends, live)."""
