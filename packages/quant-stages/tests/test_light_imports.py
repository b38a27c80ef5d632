"""Loading the catalogue must stay cheap: a cached run, `quant stage list` and profile resolution
never need the numerical stack, which takes seconds to import."""

import subprocess
import sys
import textwrap

HEAVY = ("numpy", "pandas", "scipy", "cvxpy", "pyarrow", "matplotlib")


def test_registry_and_profiles_load_without_the_numerical_stack() -> None:
    script = textwrap.dedent(
        f"""
        import sys, tempfile
        from quant_core import QuantSDK, StageRegistry
        registry = StageRegistry.from_entry_points()
        sdk = QuantSDK(home=tempfile.mkdtemp(), registry=registry)
        for name in sdk.profiles.names(sdk.home):
            sdk.resolve_profile(name)
        sdk.plan_pipeline("meta.full", profile="demo")
        for spec in registry.list_stages():
            spec.stage_class.Params()
        loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
        print(",".join(loaded))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"imported at catalogue load: {done.stdout.strip()}"
