"""Vietnamese names, units, speakers and topics the sample year is made of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# Family names with rough weights (Nguyễn is about a third of the population).
FAMILY_NAMES: tuple[tuple[str, int], ...] = (
    ("Nguyễn", 30),
    ("Trần", 11),
    ("Lê", 9),
    ("Phạm", 7),
    ("Hoàng", 5),
    ("Huỳnh", 5),
    ("Phan", 4),
    ("Vũ", 4),
    ("Võ", 4),
    ("Đặng", 2),
    ("Bùi", 2),
    ("Đỗ", 2),
    ("Hồ", 2),
    ("Ngô", 2),
    ("Dương", 1),
    ("Lý", 1),
)
MALE_MIDDLE = (
    "Văn",
    "Đức",
    "Minh",
    "Quang",
    "Hữu",
    "Công",
    "Thanh",
    "Xuân",
    "Ngọc",
    "Trọng",
    "Anh",
    "Quốc",
)
FEMALE_MIDDLE = (
    "Thị",
    "Thị",
    "Thị",
    "Ngọc",
    "Thu",
    "Thanh",
    "Kim",
    "Mỹ",
    "Hồng",
    "Phương",
    "Diệu",
    "Bích",
)
MALE_GIVEN = (
    "Hùng",
    "Dũng",
    "Tuấn",
    "Minh",
    "Hải",
    "Nam",
    "Phúc",
    "Long",
    "Sơn",
    "Thắng",
    "Cường",
    "Hiếu",
    "Trung",
    "Khánh",
    "Quân",
    "Bình",
    "Hòa",
    "Lâm",
    "Phong",
    "Tài",
    "Vinh",
    "Đạt",
    "Huy",
    "Toàn",
    "Thịnh",
    "Lộc",
    "Tùng",
    "Việt",
    "Đông",
    "Tín",
)
FEMALE_GIVEN = (
    "Hương",
    "Lan",
    "Mai",
    "Hoa",
    "Hạnh",
    "Thảo",
    "Trang",
    "Linh",
    "Ngân",
    "Phương",
    "Yến",
    "Nhung",
    "Loan",
    "Hằng",
    "Thủy",
    "Vân",
    "Dung",
    "Hà",
    "Nga",
    "Oanh",
    "Huyền",
    "Trâm",
    "Quyên",
    "Diễm",
    "Liên",
)

CITY_UNIT_NAME = "Đội ngũ báo cáo viên Thành ủy"

# (name, kind, relative size): the Party cells and organisations directly under the City
# Party Committee whose propagandists attend.
PARTY_UNITS: tuple[tuple[str, str, int], ...] = (
    ("Đảng bộ phường An Phú", "party_organisation", 12),
    ("Đảng bộ phường Tân Lập", "party_organisation", 11),
    ("Đảng bộ phường Hòa Thuận", "party_organisation", 11),
    ("Đảng bộ phường Quang Trung", "party_organisation", 12),
    ("Đảng bộ phường Trần Phú", "party_organisation", 10),
    ("Đảng bộ phường Lê Lợi", "party_organisation", 10),
    ("Đảng bộ phường Nghĩa Chánh", "party_organisation", 11),
    ("Đảng bộ xã Phú Hòa", "party_organisation", 10),
    ("Đảng bộ Quân sự thành phố", "party_organisation", 8),
    ("Đảng bộ Công an thành phố", "party_organisation", 9),
    ("Đảng bộ Cơ quan Chính quyền thành phố", "party_organisation", 10),
    ("Đảng bộ Cơ quan Đảng - Đoàn thể thành phố", "party_organisation", 9),
    ("Chi bộ Viện Kiểm sát nhân dân thành phố", "party_cell", 5),
    ("Chi bộ Tòa án nhân dân thành phố", "party_cell", 5),
    ("Chi bộ Chi cục Thuế thành phố", "party_cell", 6),
    ("Chi bộ Kho bạc Nhà nước thành phố", "party_cell", 4),
    ("Chi bộ Bảo hiểm xã hội thành phố", "party_cell", 5),
    ("Chi bộ Chi cục Thi hành án dân sự thành phố", "party_cell", 4),
    ("Chi bộ Trung tâm Y tế thành phố", "party_cell", 7),
    ("Chi bộ Trường THPT Lê Quý Đôn", "party_cell", 6),
    ("Chi bộ Trường THPT Nguyễn Trãi", "party_cell", 6),
    ("Chi bộ Điện lực thành phố", "party_cell", 5),
    ("Chi bộ Trung tâm Văn hóa, Thể thao và Truyền thông thành phố", "party_cell", 6),
)
# Registered in June: its propagandists join the roster from then on.
NEW_UNIT = ("Chi bộ Ban Quản lý dự án đầu tư xây dựng thành phố", "party_cell")

ORGANISER = "Trung tâm Chính trị thành phố"
VENUE = "Hội trường Trung tâm Chính trị thành phố"
DIRECTOR = (
    "Nguyễn Đức Hiện",
    "Ủy viên BTV Thành ủy, Trưởng Ban Tuyên giáo Thành ủy, Giám đốc Trung tâm Chính trị thành phố",
)
CENTRAL_SPEAKER = ("Nguyễn Quán Phú", "Nguyên Trưởng phòng Báo cáo viên, Ban Tuyên giáo Trung ương")
AUTHORITY = "Giám đốc Trung tâm Chính trị thành phố"

# Affiliations of guest speakers who present at the monthly conferences.
SPEAKER_AFFILIATIONS = (
    "Báo cáo viên Ban Tuyên giáo Tỉnh ủy",
    "Bộ Chỉ huy Quân sự tỉnh",
    "Công an tỉnh",
    "Cục Thống kê tỉnh",
    "Sở Ngoại vụ tỉnh",
)
CITY_REPORTER_AFFILIATION = "Báo cáo viên Thành ủy"


@dataclass(frozen=True)
class ConferencePlan:
    """One conference of the year as the Center planned it."""

    planned_on: date
    kinds: tuple[str, ...]
    title: str
    topics: tuple[str, ...]
    cancelled_on: date | None = None
    cancel_reason: str = ""


def _info_title(month: int) -> str:
    return f"Hội nghị thông tin thời sự tháng {month} năm 2022"


CONFERENCES: tuple[ConferencePlan, ...] = (
    ConferencePlan(
        date(2022, 1, 14),
        ("information",),
        _info_title(1),
        (
            "Tình hình kinh tế - xã hội năm 2021, nhiệm vụ trọng tâm năm 2022",
            "Công tác phòng, chống dịch COVID-19 dịp Tết Nguyên đán Nhâm Dần 2022",
        ),
    ),
    ConferencePlan(
        date(2022, 3, 18),
        ("information",),
        _info_title(3),
        (
            "Kết quả Hội nghị Trung ương 4 khóa XIII",
            "Xung đột Nga - Ukraine và tác động đến kinh tế thế giới",
        ),
    ),
    ConferencePlan(
        date(2022, 4, 15),
        ("information",),
        _info_title(4),
        (
            "Chương trình phục hồi và phát triển kinh tế - xã hội",
            "Kỷ niệm 47 năm Ngày giải phóng miền Nam, thống nhất đất nước",
        ),
    ),
    ConferencePlan(
        date(2022, 5, 20),
        ("information",),
        _info_title(5),
        (
            "Kỷ niệm 132 năm Ngày sinh Chủ tịch Hồ Chí Minh",
            "Đại hội Thể thao Đông Nam Á lần thứ 31 (SEA Games 31) tại Việt Nam",
        ),
    ),
    ConferencePlan(
        date(2022, 6, 17),
        ("information",),
        _info_title(6),
        (
            "Tình hình Biển Đông và công tác bảo vệ chủ quyền biển, đảo",
            "Kỷ niệm 97 năm Ngày Báo chí cách mạng Việt Nam",
        ),
    ),
    ConferencePlan(
        date(2022, 7, 15),
        ("information",),
        _info_title(7),
        (
            "Kỷ niệm 75 năm Ngày Thương binh - Liệt sĩ (27/7/1947 - 27/7/2022)",
            "Năm Đoàn kết hữu nghị Việt Nam - Lào, Lào - Việt Nam 2022",
        ),
    ),
    ConferencePlan(
        date(2022, 7, 29),
        ("thematic",),
        "Hội nghị chuyên đề quán triệt Nghị quyết Hội nghị Trung ương 5 khóa XIII",
        (
            "Nghị quyết về tiếp tục đổi mới, hoàn thiện thể chế, chính sách về đất đai",
            "Nghị quyết về tiếp tục đổi mới, phát triển và nâng cao hiệu quả kinh tế tập thể",
        ),
    ),
    ConferencePlan(
        date(2022, 8, 19),
        ("information",),
        _info_title(8),
        (
            "Kỷ niệm 77 năm Cách mạng tháng Tám và Quốc khánh 2/9",
            "Tình hình kinh tế - xã hội 7 tháng đầu năm 2022",
        ),
    ),
    ConferencePlan(
        date(2022, 9, 28),
        ("information",),
        _info_title(9),
        ("Kỷ niệm 60 năm Ngày thiết lập quan hệ ngoại giao Việt Nam - Lào",),
        cancelled_on=date(2022, 9, 26),
        cancel_reason="Hoãn do ảnh hưởng của bão số 4 (Noru)",
    ),
    ConferencePlan(
        date(2022, 11, 18),
        ("thematic",),
        "Hội nghị chuyên đề thông tin kết quả Hội nghị Trung ương 6 khóa XIII",
        (
            "Nghị quyết về tiếp tục xây dựng và hoàn thiện Nhà nước pháp quyền xã hội chủ nghĩa",
            "Nghị quyết về phát triển văn hóa, thể thao, giáo dục trong thời kỳ mới",
        ),
    ),
    ConferencePlan(
        date(2022, 12, 9),
        ("information", "review"),
        "Hội nghị thông tin thời sự tháng 12 và tổng kết công tác thông tin tuyên truyền năm 2022",
        (
            "Tình hình thế giới, hoạt động đối ngoại nổi bật của Đảng, Nhà nước ta năm 2022",
            "Định hướng nhiệm vụ công tác đối ngoại thời gian tới",
            "Tổng kết công tác thông tin tuyên truyền năm 2022, phương hướng nhiệm vụ năm 2023",
        ),
    ),
)

RETIRE_REASONS = (
    "Nghỉ hưu theo chế độ",
    "Chuyển công tác ra ngoài thành phố",
    "Nghỉ việc vì lý do sức khỏe",
)

# Roster changes in the year: (date, what, how many). Never on a conference day, so no
# attendance depends on the hour of a change; none after 9 December, so the year-end
# roster is the roster the review reports.
ROSTER_CHANGES: tuple[tuple[date, str, int], ...] = (
    (date(2022, 2, 21), "retire_propagandist", 1),
    (date(2022, 3, 1), "enrol_propagandist", 2),
    (date(2022, 3, 28), "retire_reporter", 1),
    (date(2022, 4, 4), "enrol_reporter", 1),
    (date(2022, 4, 25), "transfer", 1),
    (date(2022, 5, 9), "retire_propagandist", 1),
    (date(2022, 5, 10), "enrol_propagandist", 1),
    (date(2022, 6, 1), "register_new_unit", 1),
    (date(2022, 6, 6), "enrol_in_new_unit", 4),
    (date(2022, 6, 27), "set_core", 3),
    (date(2022, 7, 4), "transfer", 2),
    (date(2022, 8, 1), "retire_propagandist", 2),
    (date(2022, 9, 5), "enrol_reporter", 1),
    (date(2022, 9, 6), "transfer", 1),
    (date(2022, 10, 3), "retire_propagandist", 2),
    (date(2022, 10, 4), "enrol_propagandist", 3),
    (date(2022, 11, 1), "transfer", 1),
)

INITIAL_REPORTERS = 18
INITIAL_PROPAGANDISTS = 185
UNITS_REGISTERED_ON = date(2020, 10, 1)
REVIEW_DAY = date(2022, 12, 9)
DECISION_NUMBER = "125/QĐ-TTCT"
AWARD_TITLE = "Giấy khen của Giám đốc Trung tâm Chính trị thành phố"
AWARD_REASON = "Có thành tích xuất sắc trong công tác thông tin thời sự của thành phố năm 2022"
