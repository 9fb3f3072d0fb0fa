"""Fast unit tests of answer-stage mechanisms on hand-written text (no index, no model).

The texts are written for these tests in the genre's shapes; none is taken from the seeds or the gold set.
"""
import re

from qa import outline
from qa.answer import asked_figures, lost_content
from qa.compose import inner_marks
from qa.evidence import _ANAPHOR
from qa.query import ASKING
from qa.query import QueryInfo

RATE_SENTENCE = "某县(2023年工作报告):全年受理调解案件812件,调解成功806件,调解成功率99.26%。[1]"


def test_a_rate_question_needs_the_rate_not_the_counts_beside_it():
    info = QueryInfo(question="某县调解成功率是多少?", measure="rate", answer_type="number")
    assert asked_figures(RATE_SENTENCE, info) == ["99.26"]
    # an LLM draft keeps every figure of the extractive answer, the counts beside the rate too
    assert lost_content(RATE_SENTENCE, "某县2023年受理调解案件812件,成功806件,成功率为99.26%[1]。", info) == []
    assert lost_content(RATE_SENTENCE, "某县2023年调解成功率为99.26%[1]。", info) == ["figure 812", "figure 806"]
    # one that drops the rate, or the year, loses it
    assert "figure 99.26" in lost_content(RATE_SENTENCE, "某县2023年调解工作成效明显[1]。", info)
    assert "year 2023" in lost_content(RATE_SENTENCE, "某县调解成功率为99.26%[1]。", info)


def test_a_count_question_in_jian_needs_the_counts_and_without_a_measure_every_figure():
    info = QueryInfo(question="某县受理了多少件调解案件?", measure="count", unit="件", answer_type="number")
    assert asked_figures(RATE_SENTENCE, info) == ["812", "806"]
    assert asked_figures(RATE_SENTENCE, None) == ["2023", "812", "806", "99.26"]
    # an aggregation answer keeps every figure, whatever was asked
    which = QueryInfo(question="哪些地区调解成功率超过99%?", measure="rate", answer_type="which")
    assert "812" in asked_figures(RATE_SENTENCE, which)


def test_list_numbers_are_layout_not_figures():
    text = "某区(2022年工作报告):\n1. 完善制度[1]\n2. 培训执法人员300人次[1]"
    assert asked_figures(text, None) == ["2022", "300"]


def test_a_two_sentence_quote_cites_each_sentence():
    assert inner_marks("完成某平台升级。该平台入选省级案例。", "[2]") == "完成某平台升级。[2]该平台入选省级案例。"
    assert inner_marks("一句话。", "[1]") == "一句话。"


def test_an_anaphor_opens_a_sentence_that_needs_the_one_before():
    assert _ANAPHOR.match("该平台入选全省典型案例")
    assert _ANAPHOR.match("此项做法被全省推广")
    assert not _ANAPHOR.match("该县全年办理复议案件12件")  # «该县» names a region: the sentence stands alone


def test_how_a_question_asks_is_not_what_it_asks_about():
    strip = lambda q: ASKING.sub(" ", q).split()
    assert strip("哪些地方建立了行政执法监督与热线联动机制") == ["建立了行政执法监督与热线联动机制"]
    assert strip("哪几个县级市入选了示范县") == ["入选了示范县"]
    assert strip("哪个部门牵头负责") == ["牵头负责"]
    assert "联动" in "".join(strip("两个部门联动起来了吗"))
    assert "起来" not in "".join(strip("两个部门联动起来了吗"))


def test_a_problems_sentence_with_a_colon_lists_every_item_between_semicolons():
    text = (
        "一、主要成效\n全县全年办理行政复议案件86件,纠错率12.8%,较上年有所提升,各项工作稳步推进落实见效。\n"
        "二、存在的问题\n对照上级要求,我县法治政府建设仍存在一些不足:个别部门负责人履职意识不强,述法流于形式;"
        "基层执法人员力量薄弱,执法装备保障不足;行政复议宣传不够深入,群众知晓率不高。\n"
    )
    section = outline.role_paragraph(text, "problems")
    assert section is not None
    heads = [i.head for i in section.items]
    assert heads == ["个别部门负责人履职意识不强,述法流于形式", "基层执法人员力量薄弱,执法装备保障不足", "行政复议宣传不够深入,群众知晓率不高"]
    for item in section.items:
        assert text[item.start:item.end] == item.head


def test_a_short_problems_list_without_semicolons_is_split_at_its_commas():
    text = "三、不足\n回顾一年的工作,我们也清醒地看到还存在法治宣传覆盖面不广、执法队伍素质不高等问题,需要在今后工作中认真加以解决。\n"
    section = outline.role_paragraph(text, "problems")
    assert section is not None
    assert [i.head for i in section.items] == ["法治宣传覆盖面不广", "执法队伍素质不高"]


def test_an_articles_byline_names_who_wrote_it():
    from qa.compose import _issuer
    from qa.models import Document

    text = "某县推进法治政府建设纪实\n近年来,某县坚持依法行政,全面推进法治政府建设,取得明显成效。\n省司法厅法治督察处 某县司法局联合供稿\n下一篇文章\n"
    end = text.index("\n省司法厅")
    doc = Document(doc_id="d1", source="x.txt", ord=0, title="某县推进法治政府建设纪实", region="某县", province="", city="",
                   district="", level="县区级", year=2023, kind="article", published=None, start=0, end=end)
    quote, start, value = _issuer(doc, text)
    assert value == "省司法厅法治督察处 某县司法局联合供稿"
    assert text[start:start + len(quote)] == quote


def test_a_word_no_report_uses_earns_half_for_its_topic_character_a_known_word_nothing():
    from qa.evidence import Terms, coverage

    sentence = "全县将1200项处罚事项纳入免罚清单。"
    # «不罚» is the asker's word for 免罚: no report has it, so the sentence sharing 罚 earns half of it
    asked = Terms({"不罚": 4.0, "事项": 2.0}, unknown=frozenset({"不罚"}))
    assert coverage(sentence, asked) == (0.5 * 4.0 + 2.0) / 6.0
    # the same word when some report uses it: its absence from this sentence is real
    assert coverage(sentence, Terms({"不罚": 4.0, "事项": 2.0})) == 2.0 / 6.0
    # a grammar character is no topic: «办完» shares only 完 with 完成
    assert coverage("年内完成清单梳理。", Terms({"办完": 4.0}, unknown=frozenset({"办完"}))) == 0.0


def test_when_a_deadline_is_due_is_content_not_the_documents_metadata():
    from qa.query import analyze

    # «什么时候报送» asks for a deadline inside a notice; «哪个部门报送的» asks who sent the document
    assert analyze("某市自查报告什么时候报送?", []).answer_type != "metadata"
    assert analyze("这份通知是哪个部门印发的?", []).metadata_field == "department"
    # «什么时候» is how the question asks, never a word a sentence must carry
    assert "什么时候" not in ASKING.sub(" ", "某市自查报告什么时候报送?")


def test_a_requirement_is_asked_as_a_goal_an_achievement_is_not():
    from qa.answer import _ASKS_RESULT
    from qa.query import analyze

    assert analyze("某市2024年会前学法不少于几次?", []).wants_plan
    assert not analyze("某县2024年新培育法律明白人多少名?", []).wants_plan
    assert _ASKS_RESULT.search("某县2024年实际培育了多少名法律明白人?")
    assert not _ASKS_RESULT.search("某县2024年新培育法律明白人多少名?")


def test_a_region_side_is_answered_by_its_figure_in_the_asked_unit():
    from qa.compose import unit_pattern

    assert re.search(unit_pattern("个"), "共有12家单位")
    assert re.search(unit_pattern("件"), "受理3起")
    assert not re.search(unit_pattern("项"), "对412家企业适用清单")


def test_time_limits_are_read_in_days_and_dates_are_not_time_limits():
    import operator

    from qa.compose import duration_bar, durations

    assert durations("某县企业开办1日办结,不动产登记压缩至半个工作日,审批时限三个工作日") == [1.0, 0.5, 3.0]
    assert durations("于2023年11月30日前报送,审结0.5个工作日") == [0.5]
    assert duration_bar("哪些地方开办企业半天就能办完?") == (0.5, operator.le)
    assert duration_bar("哪些地区审批时间超过5天?") == (5.0, operator.ge)
    assert duration_bar("哪些地区出庭应诉率达100%?") is None


# ---------------------------------------------------------------- an LLM draft keeps everything (hand-built drafts)

from qa.answer import line_marks, markers_behind, merge_lost  # noqa: E402
from qa.verify import split_sentences  # noqa: E402

WHICH = ("出庭应诉率符合条件的有安阳市、洛阳市[1][2]。\n"
         "安阳市(2024年工作报告):行政机关负责人出庭应诉率100%[1]。\n"
         "洛阳市(2023年工作报告):负责人出庭应诉率达到100%[2]。\n"
         "未达到:汤阴县(2023年工作报告)为97.5%[3]。\n"
         "仅为目标(计划或要求,并非已实现):文峰区(2024年工作计划)提出出庭应诉率100%[4]。")


def test_markers_written_in_front_are_moved_behind_their_sentence():
    draft = "[1][2]安阳市、洛阳市出庭应诉率达到100%。\n[1]安阳市2024年为100%。[2]洛阳市2023年为100%。"
    moved = markers_behind(draft)
    assert moved == "安阳市、洛阳市出庭应诉率达到100%。[1][2]\n安阳市2024年为100%。[1]洛阳市2023年为100%。[2]"
    assert all(s.endswith("]") for s in split_sentences(moved))  # every sentence carries its own source
    # the usual place (after the sentence) is left as it is, and so are list numbers
    assert markers_behind("安阳市为100%。[1]洛阳市为100%。[2]") == "安阳市为100%。[1]洛阳市为100%。[2]"
    assert markers_behind("1. [1]完善制度\n2. [2]培训执法人员300人次") == "1. 完善制度[1]\n2. 培训执法人员300人次[2]"


def test_a_draft_that_rephrases_and_keeps_everything_loses_nothing():
    draft = ("安阳市和洛阳市的负责人出庭应诉率达到100%[1][2]。\n安阳市2024年的工作报告显示出庭应诉率为100%[1]。\n"
             "洛阳市2023年工作报告称出庭应诉率达到100%[2]。\n汤阴县2023年为97.5%,未达到[3]。\n"
             "文峰区2024年工作计划只是提出目标,出庭应诉率100%[4]。")
    assert lost_content(WHICH, draft) == []


def test_a_draft_that_drops_a_row_a_label_or_a_mark_loses_it():
    no_row = "安阳市和洛阳市的负责人出庭应诉率达到100%[1][2]。安阳市2024年为100%[1]。洛阳市2023年为100%[2]。"
    lost = lost_content(WHICH, no_row)
    assert {"figure 97.5", "region 汤阴县", "mark 未达到", "mark 仅为目标"} <= set(lost)
    # the region · year label: region and year in one sentence, not scattered
    apart = ("安阳市和洛阳市的负责人出庭应诉率达到100%[1][2]。2024年为100%[1]。2023年为100%[2]。"
             "汤阴县2023年为97.5%,未达到[3]。文峰区2024年工作计划只是提出目标,出庭应诉率100%[4]。")
    assert set(lost_content(WHICH, apart)) == {"label 安阳市(2024年", "label 洛阳市(2023年"}
    # a goal written as if achieved
    as_result = WHICH.replace("仅为目标(计划或要求,并非已实现):", "")
    assert "mark 仅为目标" in lost_content(WHICH, as_result)


def test_a_verified_draft_that_left_out_rows_is_repaired_with_them_and_a_lost_verdict_is_not():
    no_row = "安阳市和洛阳市的负责人出庭应诉率达到100%[1][2]。安阳市2024年为100%[1]。洛阳市2023年为100%[2]。"
    merged = merge_lost(WHICH, no_row)
    assert merged.startswith(no_row) and "未达到:汤阴县(2023年工作报告)为97.5%[3]。" in merged and "文峰区" in merged
    assert lost_content(WHICH, merged) == []
    assert merge_lost(WHICH, WHICH) is None  # nothing lost, nothing to repair
    yes = "是的,安阳市(2024年工作报告)出庭应诉率100%[1]。"
    assert lost_content(yes, "安阳市2024年出庭应诉率100%[1]。") == ["verdict 是的"]
    assert merge_lost(yes, "安阳市2024年出庭应诉率100%[1]。") is None  # the verdict leads: no merge puts it back


def test_every_list_item_stays():
    items = "甲区(2022年工作报告):\n1. 完善行政执法制度[1]\n2. 培训执法人员300人次[1]"
    assert lost_content(items, "甲区2022年:完善行政执法制度,培训执法人员300人次[1]。") == []
    assert lost_content(items, "甲区2022年完善行政执法制度[1]。") == ["figure 300", "item 培训执法"]
    assert "item 完善行政" in lost_content(items, "甲区2022年完善了执法制度,培训执法人员300人次[1]。")


def test_a_line_that_cites_only_at_its_end_cites_that_for_each_of_its_sentences():
    draft = "安阳市(2021年工作报告):推行减县补乡。截至2021年底下沉人员2614名。[1]"
    assert line_marks(draft) == "安阳市(2021年工作报告):推行减县补乡。[1]截至2021年底下沉人员2614名。[1]"
    assert all(s.endswith("[1]") for s in split_sentences(line_marks(draft)))  # the label's sentence keeps its source
    assert line_marks("甲。[1]乙。[2]") == "甲。[1]乙。[2]"  # a line that cites sentence by sentence is left alone


def _share_state(question: str):
    from qa.answer import State
    from qa.evidence import Evidence
    from qa.models import Chunk, Document
    from qa.query import _premise
    from qa.retrieval import Filters

    doc = Document(doc_id="d", source="s.txt", ord=0, title="某县2023年法治政府建设情况报告", region="信阳市某县", province="河南省",
                   city="信阳市", district="某县", level="县区级", year=2023, kind="report", published=None, start=0, end=200)
    text = ("全年行政诉讼败诉12件。其中因征收补偿款未按期支付败诉9件,占败诉案件总数的75%;"
            "因证据不足、程序违法败诉3件,占败诉案件总数的25%。")
    chunk = Chunk("c", "d", 0, text, "", 0, len(text))
    evidence = []
    for sentence in re.findall(r"[^。;]+[。;]", text):
        start = text.index(sentence)
        evidence.append(Evidence(sentence.rstrip("。;"), chunk, doc, start, start + len(sentence), 1.0, 0.5, 1.0))
    info = QueryInfo(question=question, premise=_premise(question))
    state = State(question=question, filters=Filters(), backend="extractive", info=info, evidence=evidence,
                  terms={"败诉": 1.0, "证据": 1.0, "不足": 1.0, "程序": 1.0, "违法": 1.0, "征收": 1.0, "补偿款": 1.0})
    return state, {"d": doc}


def test_a_claim_that_something_is_most_is_decided_by_its_share():
    from qa.answer import _share_premise
    from qa.query import _premise

    assert _premise("败诉案件大多是因为证据不足吧?").kind == "share"
    assert _premise("败诉案件主要是因为什么?") is None  # asks, claims nothing
    assert _premise("存在的问题主要是什么?") is None
    state, scope = _share_state("败诉案件大多是因为证据不足、程序违法,对吧?")
    text = _share_premise(state, scope)
    assert state.verdict == "no" and text.startswith("不是") and "25%" in text
    assert "占比更大的是" in text and "75%" in text  # the larger share of the same whole is named
    state, scope = _share_state("败诉案件主要是因为征收补偿款未按期支付吗?")
    text = _share_premise(state, scope)
    assert state.verdict == "yes" and text.startswith("是的") and "75%" in text and "25%" not in text
