"""The public group information page (Art. 8): ``GET /groups/{group_id}`` for large groups."""

from __future__ import annotations

import datetime as dt
import html

from server.state import Group

CST = dt.timezone(dt.timedelta(hours=8))


def render(g: Group, owner_name: str) -> str:
    created = dt.datetime.fromtimestamp(g.created_at / 1000, CST).strftime("%Y-%m-%d")
    e = html.escape
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{e(g.name)} · 群信息</title></head>
<body>
<h1>{e(g.name)}</h1>
<dl>
<dt>群号 Group ID</dt><dd>{e(g.group_id)}</dd>
<dt>成员数 Members</dt><dd>{g.member_count()}</dd>
<dt>类别 Category</dt><dd>{e(g.category)}</dd>
<dt>群主 Owner</dt><dd>{e(owner_name)}</dd>
<dt>创建日期 Created</dt><dd>{created}</dd>
</dl>
</body></html>
"""
