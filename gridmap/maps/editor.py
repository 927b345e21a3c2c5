"""The plan editor page (方案编辑): a Leaflet map and a side panel; the script does the rest
(``static/editor.js``), talking to the editing API of the same origin."""

from __future__ import annotations

from html import escape

PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>网格方案编辑 · {plan}</title>
<link rel="stylesheet" href="{static}/leaflet/leaflet.css">
<style>
  html, body {{ margin: 0; height: 100%; font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }}
  body {{ display: flex; }}
  #map {{ flex: 1; height: 100%; }}
  #panel {{ width: 340px; height: 100%; overflow: auto; padding: 8px 12px; box-sizing: border-box;
            border-left: 1px solid #ccc; font-size: 13px; }}
  h1 {{ font-size: 16px; margin: 4px 0; }} h2 {{ font-size: 14px; margin: 10px 0 4px; }}
  #message {{ min-height: 1.4em; padding: 4px; }}
  #message.error, #message.leased {{ background: #fde0dd; }} #message.warn {{ background: #fff3cd; }}
  #message.ok {{ background: #e5f5e0; }}
  table {{ border-collapse: collapse; width: 100%; }} td, th {{ padding: 2px 4px; border-bottom: 1px solid #eee; }}
  tr.under td.households {{ color: #3182bd; }} tr.over td.households {{ color: #de2d26; }}
  tr.target {{ outline: 2px solid #000; }} tr {{ cursor: pointer; }}
  button {{ margin: 4px 4px 4px 0; }} #reason {{ width: 100%; box-sizing: border-box; }}
  .legend span {{ display: inline-block; width: 10px; height: 10px; margin: 0 2px 0 8px; }}
  tr.changed td:first-child {{ box-shadow: inset 4px 0 0 #7a0177; }} #diffinfo {{ color: #7a0177; }}
</style>
</head>
<body data-plan="{plan}">
<div id="map"></div>
<aside id="panel">
  <h1>方案 {plan} <small id="version"></small></h1>
  <div class="legend">户数:<span style="background:#3182bd"></span>低于下限<span style="background:#31a354"></span>在范围内
    <span style="background:#de2d26"></span>超过上限 · 虚线: 当前发布的网格</div>
  <div id="message" role="status"></div>
  <div>已选小区: <span id="selected">无</span></div>
  <div>目标网格: <span id="target">无</span></div>
  <input id="reason" placeholder="调整原因（可选）">
  <button id="move" disabled>移到目标网格</button><button id="undo" disabled>撤销</button><button id="redo" disabled>重做</button>
  <br><button id="split" disabled title="所选小区（同一网格）组成一个新网格">拆分为新网格</button><button id="merge" disabled
    title="在下表勾选同一社区的两个或更多网格">合并所选网格</button>
  <label><input type="checkbox" id="diff"> 与现行对比</label>
  <div id="diffinfo"></div>
  <p>点击小区选择（可多选），再点击相邻网格或下表中的网格作为目标。拆分：所选小区组成新网格；合并：勾选下表中的网格（第一个编码保留）。
    对比：变动的网格紫色粗框，移动过的小区紫色斜线。</p>
  <h2>网格</h2>
  <table id="grids"><thead><tr><th>合并</th><th>网格</th><th>户数</th><th>范围</th><th></th></tr></thead><tbody></tbody></table>
  <h2>修改记录</h2>
  <ol id="log" reversed></ol>
</aside>
<script src="{static}/leaflet/leaflet.js"></script>
<script src="{static}/editor.js"></script>
</body>
</html>
"""


def editor_page(plan: str, *, static_url: str) -> str:
    """The editor's HTML for ``plan``."""
    return PAGE.format(plan=escape(plan, quote=True), static=static_url)
