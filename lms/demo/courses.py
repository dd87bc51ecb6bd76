"""About 300 demo courses for the demo province, generated deterministically from theme lists.

Each theme gives its category, tags, the demo teacher who usually teaches it, outside lecturers, a few
lecture titles of its own and the generic angles that suit it; micro-courses and audio lectures are
derived from the same themes. The generator is pure (no database): ``seed_demo`` applies it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from lms.catalog.importing import hours_for
from lms.catalog.models import CourseKind

THEORY, PARTY, PROFESSIONAL, KNOWLEDGE = "理论教育", "党性教育", "专业化能力", "知识培训"
# Demo teachers (lms.demo.seed): teacher01 周党建, teacher02 吴理论, teacher03 郑法治, teacher04 孙经济,
# teacher05 钱数字.
PARTY_T, THEORY_T, LAW_T, ECON_T, DIGITAL_T = "teacher01", "teacher02", "teacher03", "teacher04", "teacher05"

OUTSIDE_LECTURERS = (
    "中央党校（国家行政学院）教授",
    "中央党校（国家行政学院）党史教研部教授",
    "省委党校马克思主义理论教研部教授",
    "省委党校党建教研部副教授",
    "省委党校公共管理教研部教授",
    "省社会科学院研究员",
    "省委政策研究室处长",
)
NAMED_LECTURERS = (
    "李卫东（省委党校教授）",
    "陈晓明（中央党校（国家行政学院）教授）",
    "王立新（省社会科学院研究员）",
    "刘建华（省应急管理厅二级巡视员）",
    "赵永红（省统计局法规处处长）",
    "黄志刚（省生态环境厅总工程师）",
    "杨秀英（省委党校心理学副教授）",
    "何明远（省农业农村厅乡村振兴处处长）",
    "林海燕（省政务服务和数据管理局副局长）",
    "郭建国（省司法厅行政复议处处长）",
    "冯丽华（省委办公厅秘书处副处长）",
    "马俊峰（省发展和改革委员会经济研究所所长）",
)


@dataclass(frozen=True)
class Theme:
    name: str  # as it reads inside a title
    category: str
    tags: tuple[str, ...]
    teacher: str  # the demo teacher's login
    titles: tuple[str, ...]  # lectures of its own
    angles: tuple[str, ...]  # generic angles that suit the theme (indexes into ANGLES)
    focus: str  # what the course is about, for the summary


ANGLES = {
    "essence": "{t}的理论内涵与实践要求",
    "advance": "深入推进{t}的若干思考",
    "report": "{t}专题辅导报告",
    "cases": "{t}典型案例解析",
    "policy": "{t}：政策解读与基层实践",
    "leader": "领导干部如何抓好{t}",
    "new_era": "新时代{t}的形势与任务",
    "practice": "{t}的地方实践与经验启示",
}
MICRO_TITLES = ("一图读懂{t}", "{t}知识要点", "三分钟了解{t}", "{t}常见问题答疑")
AUDIO_TITLES = ("{t}（音频导读）", "听书｜{t}十讲")

THEMES: tuple[Theme, ...] = (
    Theme(
        "习近平新时代中国特色社会主义思想",
        THEORY,
        ("新思想", "理论武装"),
        THEORY_T,
        (
            "习近平新时代中国特色社会主义思想的世界观和方法论",
            "深刻领会“两个确立”的决定性意义",
            "习近平新时代中国特色社会主义思想的核心要义",
            "坚持好、运用好贯穿其中的立场观点方法",
            "以学铸魂　以学增智　以学正风　以学促干",
        ),
        ("essence", "report", "new_era"),
        "系统阐释其科学体系、核心要义和实践要求，帮助干部学深悟透、融会贯通",
    ),
    Theme(
        "党的二十大精神",
        THEORY,
        ("党的二十大", "理论武装"),
        THEORY_T,
        (
            "以中国式现代化全面推进中华民族伟大复兴",
            "中国式现代化的中国特色和本质要求",
            "新时代十年的伟大变革",
            "高质量发展是全面建设社会主义现代化国家的首要任务",
        ),
        ("report", "essence"),
        "围绕大会报告的主题、主线和重大论断作深入解读",
    ),
    Theme(
        "马克思主义基本原理",
        THEORY,
        ("马克思主义", "理论武装"),
        THEORY_T,
        (
            "马克思主义中国化时代化的新飞跃",
            "辩证唯物主义和历史唯物主义的当代价值",
            "《共产党宣言》导读",
        ),
        ("essence",),
        "讲清马克思主义的立场观点方法及其在新时代的运用",
    ),
    Theme(
        "党章党规党纪",
        PARTY,
        ("党章", "党内法规", "纪律教育"),
        PARTY_T,
        (
            "学习贯彻《中国共产党章程》",
            "《中国共产党纪律处分条例》逐条解读",
            "《中国共产党廉洁自律准则》学习辅导",
            "严明政治纪律和政治规矩",
            "党内法规体系建设的历程与成就",
        ),
        ("essence", "cases", "report"),
        "结合违纪违法典型案例，讲清党员干部必须遵守的纪律规矩",
    ),
    Theme(
        "党性教育",
        PARTY,
        ("党性修养", "理想信念"),
        PARTY_T,
        (
            "加强党性修养　坚定理想信念",
            "共产党员的初心使命与担当",
            "弘扬伟大建党精神",
            "从红色家书中汲取党性力量",
            "党员干部的政德修养",
        ),
        ("essence", "new_era", "leader"),
        "以理想信念教育为核心，引导党员干部补足精神之“钙”、筑牢思想之“魂”",
    ),
    Theme(
        "全面从严治党",
        PARTY,
        ("从严治党", "党风廉政"),
        PARTY_T,
        (
            "全面从严治党向纵深发展",
            "持之以恒正风肃纪反腐",
            "落实管党治党政治责任",
            "深化整治形式主义为基层减负",
        ),
        ("new_era", "leader", "cases"),
        "讲清全面从严治党的新形势新任务，推动管党治党责任落到实处",
    ),
    Theme(
        "党史学习教育",
        PARTY,
        ("党史", "四史"),
        PARTY_T,
        (
            "中国共产党的百年奋斗重大成就和历史经验",
            "长征精神的时代价值",
            "延安时期党的作风建设",
            "改革开放史中的重大决策",
        ),
        ("report",),
        "以史为鉴、开创未来，从党的百年奋斗历程中汲取前进力量",
    ),
    Theme(
        "基层党组织建设",
        PARTY,
        ("基层党建", "组织建设"),
        PARTY_T,
        (
            "抓党建促乡村振兴",
            "“三会一课”制度的规范落实",
            "发展党员工作规程解读",
            "党支部书记履职能力提升",
        ),
        ("policy", "cases", "leader"),
        "聚焦党支部标准化规范化建设，提升基层党组织的组织力",
    ),
    Theme(
        "乡村振兴",
        PROFESSIONAL,
        ("乡村振兴", "三农"),
        ECON_T,
        (
            "巩固拓展脱贫攻坚成果同乡村振兴有效衔接",
            "学习运用“千万工程”经验",
            "发展乡村特色产业的路径选择",
            "农村集体经济发展的实践探索",
            "和美乡村建设与农村人居环境整治",
        ),
        ("policy", "cases", "leader", "advance"),
        "围绕产业、人才、文化、生态、组织振兴，分享各地推进乡村全面振兴的做法",
    ),
    Theme(
        "基层治理",
        PROFESSIONAL,
        ("基层治理", "社会治理"),
        LAW_T,
        (
            "新时代“枫桥经验”的坚持和发展",
            "网格化管理与精细化服务",
            "城乡社区治理能力提升",
            "矛盾纠纷多元化解机制建设",
        ),
        ("policy", "cases", "advance"),
        "结合典型案例，讲解自治、法治、德治相结合的基层治理体系",
    ),
    Theme(
        "数字政府建设",
        PROFESSIONAL,
        ("数字政府", "数字化"),
        DIGITAL_T,
        (
            "“一网通办”与政务服务改革",
            "政务数据共享与安全管理",
            "人工智能在政务服务中的应用",
            "领导干部数字素养与技能提升",
            "数字经济发展的机遇与挑战",
        ),
        ("policy", "new_era", "leader"),
        "讲解数字政府建设的政策要求和技术基础，提升干部运用数字技术履职的能力",
    ),
    Theme(
        "应急管理",
        PROFESSIONAL,
        ("应急管理", "防灾减灾"),
        ECON_T,
        (
            "突发事件应对与舆情处置",
            "防汛抗旱与地质灾害防治",
            "基层应急预案的编制与演练",
            "重大风险识别与防范化解",
        ),
        ("policy", "cases", "leader"),
        "以典型突发事件为例，提升领导干部防范化解重大风险和应急处置的能力",
    ),
    Theme(
        "依法行政",
        PROFESSIONAL,
        ("法治政府", "依法行政"),
        LAW_T,
        (
            "《中华人民共和国行政处罚法》要点解读",
            "行政复议与行政诉讼实务",
            "重大行政决策程序规定解读",
            "行政执法“三项制度”的落实",
        ),
        ("essence", "cases", "leader"),
        "讲清法治政府建设的要求，提升运用法治思维和法治方式开展工作的能力",
    ),
    Theme(
        "生态文明建设",
        PROFESSIONAL,
        ("生态文明", "绿色发展"),
        ECON_T,
        (
            "“绿水青山就是金山银山”理念的实践",
            "碳达峰碳中和的政策与路径",
            "河湖长制的落实与成效",
            "生态环境保护督察典型问题剖析",
        ),
        ("essence", "policy", "new_era"),
        "阐释生态文明思想，解读绿色低碳发展和生态环境保护的政策要求",
    ),
    Theme(
        "统计法治",
        PROFESSIONAL,
        ("统计", "依法统计"),
        LAW_T,
        (
            "《中华人民共和国统计法》学习辅导",
            "防范和惩治统计造假、弄虚作假",
            "统计数据质量与领导干部责任",
        ),
        ("cases", "policy"),
        "讲解统计法律法规和统计督察要求，筑牢统计数据真实准确的防线",
    ),
    Theme(
        "安全生产",
        PROFESSIONAL,
        ("安全生产", "应急管理"),
        ECON_T,
        (
            "《中华人民共和国安全生产法》解读",
            "安全生产责任制的落实",
            "重点行业领域安全隐患排查整治",
            "安全生产事故调查典型案例",
        ),
        ("leader", "cases", "policy"),
        "以案说法，压实“管行业必须管安全、管业务必须管安全、管生产经营必须管安全”的责任",
    ),
    Theme(
        "经济形势",
        KNOWLEDGE,
        ("经济形势", "高质量发展"),
        ECON_T,
        (
            "当前宏观经济形势分析与展望",
            "构建新发展格局的战略考量",
            "发展新质生产力",
            "优化营商环境的政策与实践",
            "扩大内需战略与消费提振",
        ),
        ("report", "new_era"),
        "分析国内外经济形势，解读稳增长、促改革、调结构、惠民生的政策举措",
    ),
    Theme(
        "公文写作",
        PROFESSIONAL,
        ("公文写作", "办文办会"),
        THEORY_T,
        (
            "《党政机关公文处理工作条例》解读",
            "调研报告的写作方法",
            "领导讲话稿的起草技巧",
            "信息简报的撰写要领",
        ),
        ("cases",),
        "结合范文讲评，讲解常用公文的格式规范和写作方法",
    ),
    Theme(
        "心理健康",
        KNOWLEDGE,
        ("心理健康", "身心健康"),
        PARTY_T,
        (
            "干部心理压力的识别与调适",
            "情绪管理与有效沟通",
            "健康生活方式与常见病预防",
        ),
        (),
        "帮助干部了解常见心理问题，掌握压力调适和情绪管理的方法",
    ),
    Theme(
        "国家安全",
        KNOWLEDGE,
        ("国家安全", "总体国家安全观"),
        LAW_T,
        (
            "践行总体国家安全观",
            "网络安全与保密知识",
            "意识形态工作责任制的落实",
        ),
        ("essence", "new_era"),
        "讲清总体国家安全观的内涵，增强干部维护国家安全的意识和能力",
    ),
    Theme(
        "民族团结进步",
        KNOWLEDGE,
        ("民族团结", "民族工作"),
        THEORY_T,
        (
            "铸牢中华民族共同体意识",
            "民族地区高质量发展的实践",
        ),
        ("essence", "policy"),
        "阐释新时代党的民族工作方针政策，推进民族团结进步创建",
    ),
    Theme(
        "优化营商环境",
        PROFESSIONAL,
        ("营商环境", "放管服"),
        DIGITAL_T,
        (
            "“放管服”改革的深化与创新",
            "《优化营商环境条例》解读",
        ),
        ("policy", "cases"),
        "解读营商环境政策，分享深化“放管服”改革的经验做法",
    ),
    Theme(
        "信访工作",
        PROFESSIONAL,
        ("信访", "群众工作"),
        LAW_T,
        (
            "《信访工作条例》学习辅导",
            "新时代群众工作方法",
        ),
        ("policy", "cases"),
        "讲解信访工作法治化的要求和做好群众工作的方法",
    ),
    Theme(
        "保密工作",
        KNOWLEDGE,
        ("保密", "网络安全"),
        DIGITAL_T,
        ("机关保密工作常识", "涉密信息系统与移动终端使用规范"),
        ("cases",),
        "结合泄密案例，讲解机关干部必须掌握的保密常识",
    ),
    Theme(
        "中华优秀传统文化",
        KNOWLEDGE,
        ("传统文化", "文化自信"),
        THEORY_T,
        (
            "中华优秀传统文化的创造性转化",
            "从传统家训看家风建设",
            "坚定文化自信　建设文化强国",
        ),
        (),
        "从优秀传统文化中汲取治国理政的智慧，涵养干部的人文素养",
    ),
    Theme(
        "领导力提升",
        PROFESSIONAL,
        ("领导能力", "干部素质"),
        THEORY_T,
        (
            "提高政治判断力、政治领悟力、政治执行力",
            "调查研究的方法与实践",
            "狠抓落实的工作方法",
            "年轻干部成长之路",
        ),
        ("essence",),
        "围绕政治能力、调查研究和狠抓落实等本领，提升干部的履职能力",
    ),
)

CN_NUMBERS = "一二三四五六七八九十"
LECTURE_PARTS = ("提出背景与重大意义", "核心要义", "重点任务", "实践路径", "典型案例分析", "问题与对策")
AUDIENCES = ("全省各级党员干部", "县处级以上领导干部", "乡科级及以下干部", "基层干部和年轻干部")
WAYS = ("在线学习", "结合岗位实际学习", "作为专题培训的配套课程")
MICRO_PARTS = ("知识点讲解", "案例速览", "要点回顾")


@dataclass(frozen=True)
class DemoCourse:
    code: str  # DEMO-0001 …
    title: str
    summary_html: str
    category: str  # a top-level category name
    tags: tuple[str, ...]
    kind: CourseKind
    hours: Decimal
    teacher: str | None  # a demo teacher's login, or None for outside lecturers only
    lecturers: tuple[str, ...]
    lessons: tuple[tuple[str, int], ...]  # (title, duration in seconds); they sum to the course's
    scope: str  # the org code whose subtree sees (and owns) it: SF, a city or a county
    state: str  # "published", "in_review" or "draft"

    @property
    def duration_s(self) -> int:
        return sum(seconds for _, seconds in self.lessons)


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    weights = [rng.uniform(0.7, 1.3) for _ in range(parts)]
    shares = [int(total * w / sum(weights)) for w in weights]
    shares[-1] += total - sum(shares)
    return shares


def _titles() -> list[tuple[Theme, str, CourseKind]]:
    out: list[tuple[Theme, str, CourseKind]] = []
    for i, theme in enumerate(THEMES):
        angles = theme.angles + (("practice",) if len(theme.angles) > 1 else ())
        out += [(theme, title, CourseKind.VIDEO) for title in theme.titles]
        out += [(theme, ANGLES[a].format(t=theme.name), CourseKind.VIDEO) for a in angles]
        micro = [m for j, m in enumerate(MICRO_TITLES) if j != i % len(MICRO_TITLES)]
        out += [(theme, m.format(t=theme.name), CourseKind.MICRO) for m in micro]
        out += [(theme, f"微课｜{theme.titles[0]}", CourseKind.MICRO)]
    for theme in THEMES[::4]:
        out += [(theme, AUDIO_TITLES[i % 2].format(t=theme.name), CourseKind.AUDIO) for i in range(2)]
    seen: set[str] = set()
    return [item for item in out if not (item[1] in seen or seen.add(item[1]))]  # type: ignore[func-returns-value]


CITIES = ("SF01", "SF02", "SF03")
COUNTIES = ("SF0101", "SF0102", "SF0201", "SF0202", "SF0301", "SF0302")


def demo_courses() -> list[DemoCourse]:
    """The demo catalog (same list on every call)."""
    rng = random.Random(4202)  # noqa: S311 - demo data, not security
    items = _titles()
    rng.shuffle(items)
    courses: list[DemoCourse] = []
    for n, (theme, title, kind) in enumerate(items, start=1):
        if kind == CourseKind.MICRO:
            total = rng.randrange(5, 16) * 60
            parts = [f"{CN_NUMBERS[i]}、{p}" for i, p in enumerate(MICRO_PARTS[: rng.choice((2, 3))])]
        else:
            total = (
                rng.randrange(30, 91, 5) * 60 if kind == CourseKind.VIDEO else rng.randrange(20, 61, 5) * 60
            )
            count = rng.randint(2, 6)
            picked = sorted(rng.sample(range(len(LECTURE_PARTS)), count))
            parts = [f"第{CN_NUMBERS[i]}讲　{LECTURE_PARTS[p]}" for i, p in enumerate(picked)]
        lessons = tuple(zip(parts, _split(rng, total, len(parts)), strict=True))
        roll = rng.random()
        teacher: str | None = theme.teacher
        lecturers: tuple[str, ...] = ()
        if roll < 0.3:
            teacher, lecturers = None, (rng.choice(OUTSIDE_LECTURERS),)
        elif roll < 0.55:
            teacher, lecturers = None, (rng.choice(NAMED_LECTURERS),)
        scope_roll = rng.random()
        scope = (
            rng.choice(CITIES)
            if 0.80 <= scope_roll < 0.90
            else rng.choice(COUNTIES)
            if scope_roll >= 0.90
            else "SF"
        )
        state = "published"
        if n % 29 == 0:
            state = "draft"
        elif n % 23 == 0 or n % 31 == 0:
            state = "in_review"
        intro = "这节微课" if kind == CourseKind.MICRO else "本课程"
        summary = (
            f"<p>{intro}以“{title.removeprefix('微课｜')}”为题，{theme.focus}。</p>"
            f"<p>适合{rng.choice(AUDIENCES)}{rng.choice(WAYS)}。</p>"
        )
        courses.append(
            DemoCourse(
                code=f"DEMO-{n:04d}",
                title=title,
                summary_html=summary,
                category=theme.category,
                tags=theme.tags + (("微课",) if kind == CourseKind.MICRO else ()),
                kind=kind,
                hours=hours_for(total, kind),
                teacher=teacher,
                lecturers=lecturers,
                lessons=lessons,
                scope=scope,
                state=state,
            )
        )
    return courses
