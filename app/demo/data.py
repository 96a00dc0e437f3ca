"""Lists the demo generator draws from. All people are invented; the places are real regions."""

CODE_MASTERS: dict[str, list[tuple[str, str, str]]] = {
    # 長崎県の21市町 (real municipality names are public geography). "離島" marks a municipality that is
    # entirely on remote islands, "離島を含む" one that has inhabited remote islands as well.
    "region": [
        ("nagasaki", "長崎市(離島を含む)", "Nagasaki (incl. remote islands)"),
        ("sasebo", "佐世保市(離島を含む)", "Sasebo (incl. remote islands)"),
        ("shimabara", "島原市", "Shimabara"), ("isahaya", "諫早市", "Isahaya"), ("omura", "大村市", "Omura"),
        ("hirado", "平戸市(離島を含む)", "Hirado (incl. remote islands)"),
        ("matsuura", "松浦市(離島を含む)", "Matsuura (incl. remote islands)"),
        ("tsushima", "対馬市(離島)", "Tsushima (remote island)"), ("iki", "壱岐市(離島)", "Iki (remote island)"),
        ("goto", "五島市(離島)", "Goto (remote island)"),
        ("saikai", "西海市(離島を含む)", "Saikai (incl. remote islands)"),
        ("unzen", "雲仙市", "Unzen"), ("minamishimabara", "南島原市", "Minamishimabara"),
        ("nagayo", "長与町", "Nagayo"), ("togitsu", "時津町", "Togitsu"), ("higashisonogi", "東彼杵町", "Higashisonogi"),
        ("kawatana", "川棚町", "Kawatana"), ("hasami", "波佐見町", "Hasami"),
        ("ojika", "小値賀町(離島)", "Ojika (remote island)"), ("saza", "佐々町", "Saza"),
        ("shinkamigoto", "新上五島町(離島)", "Shinkamigoto (remote island)"),
    ],
    "school_type": [
        ("elementary", "小学校", "Elementary school"), ("junior_high", "中学校", "Junior high school"),
        ("compulsory", "義務教育学校", "Compulsory education school"), ("high", "高等学校", "High school"),
        ("special_needs", "特別支援学校", "Special needs school"),
    ],
    "subject": [
        ("japanese", "国語", "Japanese"), ("social", "社会", "Social studies"), ("math", "数学", "Mathematics"),
        ("science", "理科", "Science"), ("english", "英語", "English"), ("music", "音楽", "Music"),
        ("art", "美術", "Art"), ("pe", "保健体育", "Physical education"), ("technology", "技術", "Technology"),
        ("home_economics", "家庭", "Home economics"),
    ],
    "licence": [
        ("elem_1", "小学校教諭一種", "Elementary teacher (class 1)"),
        ("jh_1", "中学校教諭一種", "Junior high teacher (class 1)"),
        ("hs_1", "高等学校教諭一種", "High school teacher (class 1)"),
        ("special_1", "特別支援学校教諭一種", "Special needs teacher (class 1)"),
        ("nurse", "養護教諭一種", "School nurse teacher"), ("nutrition", "栄養教諭一種", "Nutrition teacher"),
        ("librarian", "司書教諭", "Teacher librarian"),
    ],
    "job_type": [
        ("fulltime_lecturer", "常勤講師", "Full-time lecturer"),
        ("parttime_lecturer", "非常勤講師", "Part-time lecturer"),
        ("support_staff", "スクール・サポート・スタッフ", "School support staff"),
        ("club_coach", "部活動指導員", "Club activity coach"),
        ("learning_support", "学習指導員", "Learning support staff"),
        ("special_support", "特別支援教育支援員", "Special needs support staff"),
    ],
    "correspondence_channel": [
        ("phone", "電話", "Phone"), ("mail", "メール", "Email"), ("meeting", "面談", "Meeting"),
        ("counter", "窓口", "At the counter"), ("letter", "書面", "Letter"),
        ("inquiry", "問い合わせフォーム", "Inquiry form"), ("other", "その他", "Other"),
    ],
    "tag": [
        ("briefing", "説明会参加", "Attended a briefing"), ("interviewed", "面談済み", "Interviewed"),
        ("contact", "要連絡", "To be contacted"),
    ],
    "article_category": [
        ("notice", "お知らせ", "Notices"), ("rehire", "復職・採用情報", "Welcome-back hiring"),
        ("network", "交流・イベント報告", "Network and event reports"), ("training", "研修・学び直し", "Training"),
    ],
    "employment_type": [
        ("temporary", "臨時的任用", "Temporary appointment"),
        ("fiscal_year", "会計年度任用職員", "Fiscal-year appointed staff"),
        ("hourly", "非常勤講師(時間講師)", "Part-time lecturer (paid by the hour)"),
        ("reappointed", "再任用", "Re-employment after retirement"),
    ],
}

# Fictitious job postings at fictitious schools (real municipalities as their region). Fields:
# title, school, school_type, region, job_type, employment_type, subjects, required licences, preferred
# licences, (start in days from today, length in days or None), days/hours, openings, description,
# status, (publish from in days from now, publish until in days or None), shown in the portal.
DEMO_POSTINGS = [
    ("中学校 数学 常勤講師", "架空市立第一中学校", "junior_high", "nagasaki", "fulltime_lecturer", "temporary",
     ["math"], ["jh_1"], ["hs_1"], (14, 200), "月〜金 8:15〜16:45", 1,
     "産休代替の常勤講師です。第2学年の数学(週18時間)と学級副担任をお願いします。", "open", (-3, 30), True),
    ("小学校 学級担任 常勤講師", "架空町立みどり小学校", "elementary", "isahaya", "fulltime_lecturer", "temporary",
     [], ["elem_1"], [], (21, 180), "月〜金 8:10〜16:40", 1,
     "第3学年の学級担任をお願いします。", "open", (-6, 40), True),
    ("中学校 英語 非常勤講師(週12時間)", "架空市立第二中学校", "junior_high", "sasebo", "parttime_lecturer", "hourly",
     ["english"], ["jh_1"], [], (10, 150), "火・木・金 午前", 1,
     "第1学年の英語の授業を担当していただきます。", "open", (-1, None), True),
    ("高等学校 理科(化学) 非常勤講師", "架空県立海辺高等学校", "high", "omura", "parttime_lecturer", "hourly",
     ["science"], ["hs_1"], [], (30, 120), "週10時間(曜日は相談)", 1,
     "化学基礎の授業と実験の準備をお願いします。", "open", (-8, 20), True),
    ("特別支援学校 教員 常勤講師", "架空県立さくら特別支援学校", "special_needs", "isahaya", "fulltime_lecturer",
     "temporary", [], ["special_1", "elem_1"], [], (7, 240), "月〜金 8:30〜17:00", 2,
     "小学部の学級を担当していただきます。特別支援学校の免許がない方もご相談ください。", "open", (-12, 15), True),
    ("スクール・サポート・スタッフ", "架空市立第一小学校", "elementary", "nagasaki", "support_staff", "fiscal_year",
     [], [], [], (5, 300), "月〜金 9:00〜15:00(週29時間)", 1,
     "教材の準備や印刷、校内の環境整備など、先生方の業務を支援します。免許は不要です。", "open", (-2, 45), True),
    ("部活動指導員(ソフトテニス)", "架空市立第三中学校", "junior_high", "goto", "club_coach", "fiscal_year",
     ["pe"], [], ["jh_1"], (20, 200), "平日放課後・土曜(週6時間程度)", 1,
     "ソフトテニス部の技術指導と大会の引率をお願いします。", "open", (-4, 60), False),
    ("中学校 数学 非常勤講師(来月掲載)", "架空町立やまなみ中学校", "junior_high", "unzen", "parttime_lecturer",
     "hourly", ["math"], ["jh_1"], [], (45, 150), "週8時間", 1,
     "少人数指導の数学を担当していただきます。", "open", (5, 40), True),
    ("学習指導員(放課後学習)", "架空市立第四小学校", "elementary", "shimabara", "learning_support", "fiscal_year",
     [], [], ["elem_1"], (30, 200), "月・水・金 14:30〜17:00", 2,
     "放課後の学習支援をお願いします。", "draft", None, True),
    ("中学校 養護教諭 常勤講師", "架空市立第五中学校", "junior_high", "hirado", "fulltime_lecturer", "temporary",
     [], ["nurse"], [], (40, 180), "月〜金 8:15〜16:45", 1,
     "保健室の運営をお願いします。", "draft", None, True),
    ("中学校 社会 常勤講師", "架空市立東中学校", "junior_high", "omura", "fulltime_lecturer", "temporary",
     ["social"], ["jh_1"], [], (-20, 200), "月〜金 8:15〜16:45", 1,
     "第3学年の社会をお願いします。", "filled", (-40, 10), True),
    ("小学校 音楽 非常勤講師", "架空市立西小学校", "elementary", "sasebo", "parttime_lecturer", "hourly",
     ["music"], ["elem_1"], [], (-60, 120), "週6時間", 1,
     "音楽の専科授業をお願いします。", "closed", (-90, -50), True),
]

# (title, body, days the item has been published, days until it ends or None)
DEMO_NEWS = [
    ("令和8年度 講師登録説明会のご案内",
     "小・中学校で講師として働くことに関心のある方を対象に、説明会を開きます。\n\n"
     "日時や会場は決まりしだいこのページでお知らせします。\n"
     "詳しくは https://www.example.com/setsumeikai をご覧ください。", 3, 60),
    ("部活動指導員を募集しています",
     "中学校の部活動指導員を募集しています。\n経験を生かしたい方のご登録をお待ちしています。", 10, None),
    ("システムメンテナンスのお知らせ(終了)", "メンテナンスは終了しました。", 40, -30),
]
DEMO_VIDEO = ("学校で働く人の一日(紹介動画)", "tsunaguDemo",  # a made-up id: the demo links to no real video
              "学校スタッフの仕事を紹介する動画です(デモ用の架空の動画IDです)。")

FAMILY_NAMES = [
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"), ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
    ("吉田", "ヨシダ"), ("山田", "ヤマダ"), ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"),
    ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("清水", "シミズ"), ("山崎", "ヤマザキ"),
    ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"), ("石川", "イシカワ"),
    ("前田", "マエダ"), ("藤田", "フジタ"), ("小川", "オガワ"), ("岡田", "オカダ"), ("後藤", "ゴトウ"),
    ("長谷川", "ハセガワ"), ("村上", "ムラカミ"), ("近藤", "コンドウ"), ("坂本", "サカモト"), ("福田", "フクダ"),
]

GIVEN_NAMES = [
    ("翔太", "ショウタ"), ("大輔", "ダイスケ"), ("健太", "ケンタ"), ("拓也", "タクヤ"), ("直樹", "ナオキ"),
    ("陽子", "ヨウコ"), ("美咲", "ミサキ"), ("愛", "アイ"), ("由美", "ユミ"), ("恵", "メグミ"),
    ("浩二", "コウジ"), ("誠", "マコト"), ("葵", "アオイ"), ("結衣", "ユイ"), ("花子", "ハナコ"),
    ("太郎", "タロウ"), ("真由美", "マユミ"), ("千尋", "チヒロ"), ("蓮", "レン"), ("颯太", "ソウタ"),
    ("陽菜", "ヒナ"), ("彩", "アヤ"), ("亮", "リョウ"), ("和也", "カズヤ"), ("智子", "トモコ"),
    ("悠斗", "ユウト"), ("さくら", "サクラ"), ("修", "オサム"), ("典子", "ノリコ"), ("隆", "タカシ"),
]
