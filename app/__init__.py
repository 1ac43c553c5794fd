"""The command line and (later) the Streamlit UI, thin layers over retrieval and eval."""
