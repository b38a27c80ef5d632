"""Data contracts, readers, validators, codecs and the embedded synthetic market."""
