import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _build_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("i18n_build", ROOT / "scripts/i18n/build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_message_id_has_a_chinese_translation():
    build = _build_module()
    missing = [i for i in build.extract_ids() if i not in build.ZH_HANS]
    assert missing == []


def test_pages_are_chinese_by_default_and_english_on_request(client):
    assert "登录" in client.get("/login").get_data(as_text=True)
    assert "Sign in" in client.get("/login?lang=en").get_data(as_text=True)
