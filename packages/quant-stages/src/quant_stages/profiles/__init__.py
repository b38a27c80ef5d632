"""Profiles: named, validated parameter sets in TOML (built-in ones and user files)."""

from quant_stages.profiles.provider import TomlProfiles, load_profile_file

__all__ = ["TomlProfiles", "load_profile_file"]
