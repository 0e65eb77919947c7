"""InGraphs-style Streamlit dashboard over the store, the rules engine's alerts and configs.

Start it with ``modelhealth dashboard --db FILE --rules DIR --state-dir DIR``; see
:mod:`modelhealth.dashboard.launch`.
"""
