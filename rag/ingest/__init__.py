"""Articles in: reading files, web pages and feeds; repair, boilerplate, metadata; chunks."""
