"""Streamlit page scripts (not `pages/`: that name switches Streamlit to its old
folder-based navigation); each defines ``render(ctx)`` and runs it when Streamlit runs it."""
