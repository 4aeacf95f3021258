"""Streamlit helpers shared by the pages: the database handle, the login guard, formatting, banners."""
