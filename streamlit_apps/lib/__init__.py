"""Data access and computations behind the dashboards, kept apart from the page scripts.

The page scripts under ``pages/`` only lay out what these modules return, so the SQL, the drift
statistics and the error messages can be tested without rendering anything.
"""
