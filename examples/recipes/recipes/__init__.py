"""A small application whose web layers and factories make their own sessions."""
