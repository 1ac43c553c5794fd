"""The surfaces people use, thin layers over retrieval and eval: the command line (``cli.py`` assembling
``commands/``), the HTTP service (``service/``: FastAPI routes, or Ray Serve for sharded indexes), the Streamlit UI
(``ui/``) and the demo (``demo.py``). Only this package speaks in command-line flags."""
