"""The Streamlit UI: thin pages over retrieval and eval; heavy objects load once per process."""
