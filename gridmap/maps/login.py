"""The sign-in page (/maps/login): a dispatcher or planner signs a browser in with an API key.

A plain HTML form posted to ``POST /v1/session`` (same origin, so the CSRF check passes); the
server answers with an HttpOnly session cookie and sends the browser on to ``next``.
"""

from __future__ import annotations

from html import escape

__all__ = ["login_page", "safe_next"]

DEFAULT_NEXT = "/maps/lookup"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return DEFAULT_NEXT
    if any(ord(ch) < 32 for ch in target):
        return DEFAULT_NEXT
    return target


def login_page(*, next_url: str | None = None, error: str | None = None, role: str | None = None) -> str:
    """The page: the key field, where to go next, and a message (an error, or who is signed in)."""
    message = ""
    if error:
        message = f'<p class="error" role="alert" id="login-error">{escape(error)}</p>'
    elif role and role != "public":
        message = (f'<p class="ok" id="login-state" data-role="{escape(role)}">已登录（{escape(role)}）。'
                   '<button type="button" id="logout">退出登录 / Sign out</button></p>')
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 · gridmap 网格化治理</title>
<style>
body {{ font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; background: #f4f6f8; margin: 0; }}
main {{ max-width: 24rem; margin: 10vh auto; background: #fff; padding: 2rem; border-radius: 8px;
       box-shadow: 0 1px 4px rgba(0,0,0,.15); }}
h1 {{ font-size: 1.3rem; margin-top: 0; }}
label {{ display: block; margin: 1rem 0 .3rem; }}
input[type=password] {{ width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }}
button {{ margin-top: 1rem; padding: .5rem 1.2rem; font-size: 1rem; }}
.error {{ color: #b00020; }} .ok {{ color: #1b5e20; }} small {{ color: #666; }}
</style></head>
<body><main>
<h1>调度员 / 规划员登录</h1>
<p><small>Sign in with your API key. 登录后，地图页面显示非公开的联系电话。</small></p>
{message}
<form method="post" action="/v1/session" id="login-form">
<label for="key">API 密钥 (API key)</label>
<input type="password" id="key" name="key" autocomplete="off" required>
<input type="hidden" name="next" value="{escape(safe_next(next_url))}">
<button type="submit" id="login-submit">登录 / Sign in</button>
</form>
<script>
const out = document.getElementById('logout');
if (out) out.addEventListener('click', async () => {{
  await fetch('/v1/session', {{method: 'DELETE', credentials: 'same-origin'}});
  location.reload();
}});
</script>
</main></body></html>
"""
