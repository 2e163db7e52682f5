"""Lesson Markdown: the outer fence, front matter, validation and extraction."""
