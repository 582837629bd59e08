"""How a ledger sheet is put on paper (engine/ledgers/paper.py): a sheet that fits A4 landscape
at 60% or more prints on A4 as before; a wider one (the identification ledger, ~30 columns)
gets narrower columns (headers on two lines, long text wrapped at 20 characters) and A3, so a
clerk reads it at 60% or more instead of at a third of its size."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from rectify.engine.ledgers import paper
from rectify.engine.ledgers.cells import to_text

THIRTEEN = [("编号", "DC-2025-001"), ("乡镇", "大杨集镇"), ("村", "张庄村"),
            ("对象", "household:HH-1001"), ("问题类别", "信息不实"),
            ("问题描述", "户籍人口与公安户籍信息不一致，家庭成员数量有误"),
            ("整改措施", "已入户核实"),
            ("责任人", "王明"), ("交办日期", "2025-09-22"), ("整改时限", "2025-10-11"),
            ("状态", "整改中"), ("亮灯", "绿"), ("验收人", "李华")]
# The identification ledger's columns, three more text fields added: thirty in all.
THIRTY = [("编号", "#43"), ("乡镇", "大杨集镇"), ("村", "张庄村"), ("对象", "household:HH-2001"),
          ("户主姓名", "王德福"), ("家庭人口数", "5"), ("致贫（返贫）风险类型", "因病"),
          ("申请事由", "户主患尿毒症，每周透析三次，医疗支出大，家庭收入骤减"),
          ("村“两委”商议意见", "村“两委”联席会议商议，同意提交党员大会审议"),
          ("应到党员数", "12"), ("实到党员数", "10"), ("党员赞成票数", "9"),
          ("应到村民代表数", "25"), ("实到村民代表数", "21"), ("村民代表赞成票数", "19"),
          ("决议公开日期", "2025-10-23"),
          ("入户核实情况", "入户核实家庭人口、收入、住房与申请一致"),
          ("家庭年人均纯收入（元）", "5200"), ("乡镇审核意见", "同意纳入"),
          ("实施结果公开日期", "2025-11-20"), ("帮扶措施", "落实医疗救助和公益岗位"),
          ("帮扶责任人", "陈华"), ("备注", "无"), ("责任人", "王芳"), ("交办日期", "2025-10-21"),
          ("整改时限", "2025-11-14"), ("状态", "乡镇审核"), ("亮灯", "绿"), ("验收人", "赵强"),
          ("销号日期", "2025-12-01")]


def _plan(columns: list[tuple[str, str]]) -> paper.ColumnPlan:
    keys = [(f"c{n}", header) for n, (header, _) in enumerate(columns)]
    row = {f"c{n}": value for n, (_, value) in enumerate(columns)}
    return paper.plan_columns(keys, [row] * 3, to_text)


def test_thirteen_columns_stay_on_a4_as_they_were() -> None:
    """A 13-column problem ledger fits A4 landscape at 60% or more: A4, headers on one line,
    columns sized as before (6 to 30 characters, longer text wrapping)."""
    plan = _plan(THIRTEEN)
    assert (plan.paper, plan.header_lines) == (paper.A4, 1)
    assert paper.fit_scale(plan.widths, paper.A4) >= paper.MIN_SCALE
    assert max(plan.widths) == paper.MAX_WIDTH  # the description, which wraps at 30
    assert plan.wrap == [header == "问题描述" for header, _ in THIRTEEN]


def test_thirty_columns_go_narrower_and_onto_a3() -> None:
    """A 30-column sheet would print at about a third of its size on A4. Narrowed (two-line
    headers, text wrapped at 20 characters) it still needs more than A4 allows at 60%, so it
    goes on A3, where it prints at 60% or more; without the narrowing it would not."""
    natural = [min(paper.MAX_WIDTH, max(paper.MIN_WIDTH, paper.display_width(max(
        (h, v), key=paper.display_width)) + 2)) for h, v in THIRTY]
    assert paper.fit_scale(natural, paper.A4) < 0.4
    assert paper.fit_scale(natural, paper.A3) < paper.MIN_SCALE
    plan = _plan(THIRTY)
    assert (plan.paper, plan.header_lines) == (paper.A3, 2)
    assert plan.scale >= paper.MIN_SCALE and plan.scale == paper.fit_scale(plan.widths, paper.A3)
    assert max(plan.widths) == paper.NARROW_WIDTH
    by_header = dict(zip((h for h, _ in THIRTY), zip(plan.widths, plan.wrap, strict=True),
                         strict=True))
    assert by_header["申请事由"] == (20, True)  # long text wraps, the row grows
    assert by_header["实到村民代表数"] == (9, False)  # a figure under a two-line header


def test_identification_export_prints_on_a3(tmp_path: Path) -> None:
    """The demo's identification ledger exported through the workbook writer: A3 landscape,
    one page wide, the header row tall enough for two lines."""
    from rectify.engine.app.ledger_export import ExportOptions, export_ledger
    from rectify.engine.app.service import Service
    from rectify.engine.app.views import ItemFilter
    from rectify.engine.core.clock import FixedClock
    from rectify.engine.demo.rectification import run_demo
    from rectify.engine.store.db import open_engine

    from .conftest import START

    db = run_demo(tmp_path / "demo", lambda _: None)
    service = Service(open_engine(f"sqlite:///{db}"), FixedClock(START))
    out = tmp_path / "识别台账.xlsx"
    export_ledger(service, out, "xlsx", filters=ItemFilter(workflow="identification"),
                  options=ExportOptions(force=True))
    sheet = openpyxl.load_workbook(out).worksheets[0]
    setup = sheet.page_setup
    assert (setup.orientation, int(setup.paperSize), setup.fitToWidth) == ("landscape", 8, 1)
    assert sheet.row_dimensions[3].height == paper.LINE_HEIGHT * 2 + 2


def test_wrapped_chinese_text_gets_rows_tall_enough() -> None:
    """A Chinese glyph prints a little wider than two digits, so a 29-character finding in a
    20-wide column takes four lines, not three (the last line was cut off in print), and an
    11-character state wider than its 20 columns wraps onto two."""
    assert paper.lines_needed("经入户核实，车辆登记在其女婿名下，不属本户财产，不影响认定", 20) == 4
    assert paper.lines_needed("第一次公示（村内公示）", 20) == 2
    assert paper.lines_needed("2025-10-23", 12) == 1


def test_wrapped_rows_keep_their_heights_in_bounded_memory(tmp_path: Path) -> None:
    """Every wrapped row still gets its height in the file, yet writing four times as many
    wrapped rows takes no more memory at its peak (each row's height was kept until the file
    was saved: a province's million-row ledger held 450 MB of them)."""
    import tracemalloc

    from rectify.engine.ledgers import LedgerSheet, write_sheets

    long = "户籍人口与公安户籍信息不一致，家庭成员数量有误，需入户核实并更正档案"

    def peak(rows: int) -> int:
        sheet = LedgerSheet([("id", "编号"), ("desc", "问题描述")],
                            ({"id": f"#{n}", "desc": f"{long}{n}"} for n in range(rows)))
        tracemalloc.start()
        try:
            write_sheets([sheet], tmp_path / f"{rows}.xlsx", "xlsx")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(1000), peak(4000)
    assert large - small < 300_000, (small, large)  # 3,000 rows' heights kept: ~1.3 MB
    written = openpyxl.load_workbook(tmp_path / "4000.xlsx").worksheets[0]
    heights = {written.row_dimensions[n].height for n in range(written.max_row - 3999,
                                                               written.max_row + 1)}
    assert len(heights) == 1 and heights.pop() > paper.LINE_HEIGHT * 2  # several lines each
    assert written.cell(written.max_row, 2).value == f"{long}3999"
