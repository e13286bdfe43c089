"""Plans and reports as text, Markdown and JSON: pure functions over the core."""
