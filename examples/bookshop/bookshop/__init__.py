"""A tiny bookshop: authors, books and the service that sells them."""
