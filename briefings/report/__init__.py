"""The annual summary on paper and screen: text, Markdown, JSON, HTML, and the issued
Party-format report (HTML for A4, PDF, Word, Excel) from a template kept in ``templates/``."""
