"""Word lists and sentence templates for the demo corpus, written for this project.

Nothing here is copied from a corpus: every list is ordinary vocabulary of the language (its
common stop words, nouns, verbs, adjectives) typed by hand, so generated prose *looks like* the
language to a language identifier and passes the Gopher stop-word and word-length rules, without
reproducing anyone's text. Grammar is deliberately rough (no agreement); the goal is plausible
statistics, not correct sentences.

Template slots: ``{N}`` noun phrase, ``{A}`` adjective, ``{V}`` transitive verb, ``{I}``
intransitive verb, ``{D}`` adverb, ``{P}`` preposition, ``{T}`` time expression, ``{O}`` sentence
opener. Every character of a language's lists must encode in the legacy charsets the demo uses for
that language (iso-8859-1 for de/fr/es, windows-1251 for ru, gbk for zh); a test checks it.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Vocab:
    """One language's vocabulary. String fields are whitespace-separated lists (``|`` for phrases)."""

    lang: str
    nouns: str  # with their article where the language has one ("die Stadt")
    adjectives: str
    verbs: str  # transitive, 3rd person singular present
    intransitive: str
    adverbs: str
    prepositions: str
    times: str  # "|"-separated phrases
    openers: str  # "|"-separated phrases
    templates: tuple[str, ...]
    commerce: str  # spam vocabulary
    nav: str  # "|"-separated navigation labels
    footer: str  # "|"-separated footer link labels
    cookie: str  # cookie banner sentence
    cookie_button: str
    rights: str  # "All rights reserved."
    chapter: str  # "Chapter {n}"
    read_more: str
    popular: str
    js_notice: str
    not_found: str
    spaced: bool = True  # False for zh: words are written without spaces

    def split(self, field: str) -> list[str]:
        """The list stored in ``field`` (phrase fields split on ``|``, others on whitespace)."""
        value = getattr(self, field)
        if "|" in value:
            return [" ".join(p.split()) for p in value.split("|") if p.strip()]
        return [w.replace("_", " ") for w in value.split()]


EN = Vocab(
    lang="en",
    nouns="""time year people way day man woman child world life hand part place case week company
    system program question work government number night point home water room mother area money
    story fact month lot right study book eye job word business issue side kind head house service
    friend father power hour game line end member law car city community name president team
    minute idea kid body information back parent face others level office door health person art
    war history party result change morning reason research girl guy moment air teacher force
    education foot boy age policy process music market sense nation plan college interest death
    experience effect class control care field development role effort rate heart drug show leader
    light voice wife police mind price report decision son view relationship town road arm difference
    value building action model season society tax director position player record paper space
    ground form event official matter center couple site project activity star table need court
    oil situation cost industry figure street image phone data picture practice piece land product
    doctor wall patient worker news test movie north love support technology step baby computer type
    attention film tree source organization hair window evidence population garden river
    bridge village kitchen island forest letter method museum library harbor valley station
    journey region network farmer engineer council budget bakery festival climate harvest
    """,
    adjectives="""good new first last long great little own other old right big high different small
    large next early young important few public bad same able local sure free better true whole
    clear recent certain personal open red difficult available likely short single medical current
    wrong private past foreign fine common poor natural significant similar hot dead central happy
    serious ready simple left physical general environmental financial blue democratic dark various
    entire close legal religious cold final main green nice huge popular traditional cultural quiet
    careful modern rural bright narrow ancient gentle steady patient curious practical useful
    """,
    verbs="""finds gives tells calls keeps brings begins shows hears plays moves likes believes holds
    writes provides includes continues sets learns changes leads understands watches follows stops
    creates speaks reads allows adds spends grows opens walks wins offers remembers loves considers
    buys serves sends expects builds reaches raises passes sells requires reports decides pulls
    describes explains improves measures studies supports protects repairs visits prepares shares
    """,
    intransitive="""appears arrives waits falls stays returns grows changes works travels rests
    sleeps laughs listens remains succeeds improves begins ends continues happens""",
    adverbs="""often never always sometimes usually quickly slowly really almost already still
    again together nearly probably perhaps certainly quietly carefully easily rarely finally""",
    prepositions="in on at with from for about into through during after before under near across",
    times="""today|yesterday|last year|this morning|every week|in the spring|after the war|
    during the summer|in recent years|at the end of the day|on most days|before the election""",
    openers="""However|In addition|For example|At the same time|As a result|In many cases|
    On the other hand|According to the report|For this reason|In the end|Of course|In general""",
    templates=(
        "{N} {V} {N} {P} {N}.",
        "{O}, {N} {V} {N} and {N}.",
        "{N} {I} {D}, and {N} {V} {N} {P} {N}.",
        "{N} of {N} is {A}, but {N} {V} {N}.",
        "It is {A} that {N} {V} {N} {T}.",
        "{T}, {N} {I} {P} {N} with {N}.",
        "Many people have {A} questions about {N} and {N}.",
        "{N} {D} {V} {N}, which is {A} for {N}.",
        "There is a {A} reason to think that {N} {V} {N}.",
        "We have to ask whether {N} {V} {N} {T}.",
        "{N} that {V} {N} is not always {A}.",
        "{O}, it was {A} to see how {N} {V} {N} {P} {N}.",
    ),
    commerce="""cheap buy best free online discount deal price sale offer order now top casino
    loans pills replica shipping bonus win""",
    nav="Home|News|World|Business|Sport|Culture|Science|Travel|Opinion|About|Contact",
    footer="Privacy Policy|Terms of Use|Contact Us|Advertise|Careers|Sitemap|Accessibility",
    cookie=(
        "This site uses cookies to improve your experience and to show you personalised content. "
        "By continuing to browse, you agree to our use of cookies."
    ),
    cookie_button="Accept all cookies",
    rights="All rights reserved.",
    chapter="Chapter",
    read_more="Read more",
    popular="Most popular",
    js_notice="Please enable JavaScript in your browser to view this page.",
    not_found="Page not found",
)

DE = Vocab(
    lang="de",
    nouns="""der_Markt die_Stadt das_Haus der_Mann die_Frau das_Kind die_Welt das_Leben die_Hand
    der_Tag das_Jahr die_Zeit der_Weg die_Arbeit das_Land die_Schule der_Vater die_Mutter
    das_Problem die_Frage der_Staat die_Regierung das_Unternehmen die_Firma der_Freund die_Familie
    das_Wasser der_Garten die_Stra\u00dfe das_Auto der_Zug der_Bahnhof die_Kirche das_Dorf der_Wald
    der_Fluss die_Br\u00fccke das_Buch die_Zeitung der_Lehrer die_Lehrerin der_Arzt die_Polizei
    das_Gesetz die_Wirtschaft die_Politik die_Geschichte die_Kultur das_Museum die_Bibliothek
    der_Preis das_Geld die_Bank der_Kunde die_Idee der_Plan das_Ziel die_Entwicklung die_Forschung
    die_Wissenschaft das_Ergebnis die_Gesellschaft die_Gemeinde der_Rat der_B\u00fcrgermeister
    die_Universit\u00e4t der_Student das_Studium die_Sprache das_Wort der_Brief die_Nachricht
    das_Wetter der_Winter der_Sommer der_Fr\u00fchling der_Herbst das_Fest die_Musik das_Theater
    der_Film das_Bild die_Kunst der_K\u00fcnstler das_Spiel die_Mannschaft der_Verein die_Reise
    das_Hotel die_K\u00fcche das_Essen das_Brot der_Kaffee die_Gesundheit das_Krankenhaus
    die_Energie der_Strom die_Technik der_Computer das_Netz die_Daten das_Programm die_Stunde
    die_Woche der_Monat der_Abend der_Morgen die_Nacht der_Bauer die_Ernte das_Feld der_Hafen
    das_Schiff die_Insel der_Berg das_Tal die_Region der_Haushalt die_Steuer der_Bericht
    """,
    adjectives="""gut neu alt gro\u00df klein lang kurz wichtig sch\u00f6n schnell langsam einfach
    schwer leicht hoch tief stark schwach jung fr\u00fch sp\u00e4t richtig falsch m\u00f6glich
    n\u00f6tig klar sicher offen ruhig laut leise warm kalt hell dunkel frei voll leer modern
    \u00f6ffentlich privat deutlich bekannt beliebt erfolgreich teuer billig g\u00fcnstig
    wirtschaftlich politisch sozial regional lokal neugierig praktisch n\u00fctzlich vorsichtig""",
    verbs="""findet gibt sagt macht sieht bringt zeigt h\u00e4lt f\u00fchrt kennt braucht nimmt
    schreibt liest kauft verkauft baut plant erkl\u00e4rt beschreibt unterst\u00fctzt verbessert
    besucht \u00f6ffnet schlie\u00dft bietet erh\u00e4lt entwickelt untersucht pr\u00fcft sch\u00fctzt
    repariert teilt \u00e4ndert lernt versteht erreicht fordert verlangt beobachtet""",
    intransitive="""kommt geht bleibt steht liegt arbeitet w\u00e4chst schl\u00e4ft wartet reist
    beginnt endet lacht f\u00e4llt steigt sinkt""",
    adverbs="""oft nie immer manchmal meistens schnell langsam wirklich fast schon noch wieder
    zusammen vielleicht sicher leider gern heute morgen hier dort sehr auch nur""",
    prepositions="in an auf mit aus f\u00fcr \u00fcber unter nach vor bei durch gegen ohne zwischen",
    times="""heute|gestern|im letzten Jahr|am Morgen|jede Woche|im Fr\u00fchling|nach dem Krieg|
    im Sommer|in den letzten Jahren|am Ende des Tages|an den meisten Tagen|vor der Wahl""",
    openers="""Allerdings|Au\u00dferdem|Zum Beispiel|Gleichzeitig|Deshalb|In vielen F\u00e4llen|
    Andererseits|Laut dem Bericht|Aus diesem Grund|Am Ende|Nat\u00fcrlich|Im Allgemeinen""",
    templates=(
        "{N} {V} {N} {P} {N}.",
        "{O} {V} {N} {N} und {N}.",
        "{N} {I} {D}, und {N} {V} {N}.",
        "{N} ist {A}, aber {N} {V} {N} nicht.",
        "Es ist {A}, dass {N} {T} {N} {V}.",
        "{T} {I} {N} mit {N} {P} {N}.",
        "Viele Menschen haben {A} Fragen \u00fcber {N} und {N}.",
        "{N} {V} {D} {N}, und das ist {A} f\u00fcr {N}.",
        "Wir wissen nicht, ob {N} {N} {V}.",
        "{N} ist nicht immer so {A} wie {N}.",
        "{O} war es {A} zu sehen, wie {N} {N} {V}.",
    ),
    commerce="billig kaufen beste gratis online rabatt angebot preis jetzt bestellen top casino kredit",
    nav="Startseite|Nachrichten|Politik|Wirtschaft|Sport|Kultur|Wissen|Reisen|Meinung|Impressum|Kontakt",
    footer="Datenschutz|Nutzungsbedingungen|Kontakt|Werbung|Karriere|Sitemap|Barrierefreiheit",
    cookie=(
        "Diese Website verwendet Cookies, um Ihnen ein besseres Erlebnis zu bieten. "
        "Wenn Sie weiter surfen, stimmen Sie der Verwendung von Cookies zu."
    ),
    cookie_button="Alle akzeptieren",
    rights="Alle Rechte vorbehalten.",
    chapter="Kapitel",
    read_more="Weiterlesen",
    popular="Meistgelesen",
    js_notice="Bitte aktivieren Sie JavaScript in Ihrem Browser, um diese Seite anzuzeigen.",
    not_found="Seite nicht gefunden",
)

FR = Vocab(
    lang="fr",
    nouns="""le_march\u00e9 la_ville la_maison l'homme la_femme l'enfant le_monde la_vie la_main
    le_jour l'ann\u00e9e le_temps le_chemin le_travail le_pays l'\u00e9cole le_p\u00e8re la_m\u00e8re
    le_probl\u00e8me la_question l'\u00c9tat le_gouvernement l'entreprise la_soci\u00e9t\u00e9 l'ami
    la_famille l'eau le_jardin la_rue la_voiture le_train la_gare l'\u00e9glise le_village la_for\u00eat
    la_rivi\u00e8re le_pont le_livre le_journal le_professeur le_m\u00e9decin la_police la_loi
    l'\u00e9conomie la_politique l'histoire la_culture le_mus\u00e9e la_biblioth\u00e8que le_prix
    l'argent la_banque le_client l'id\u00e9e le_projet le_but le_d\u00e9veloppement la_recherche
    la_science le_r\u00e9sultat la_commune le_conseil le_maire l'universit\u00e9 l'\u00e9tudiant
    la_langue le_mot la_lettre la_nouvelle le_climat l'hiver l'\u00e9t\u00e9 le_printemps l'automne
    la_f\u00eate la_musique le_th\u00e9\u00e2tre le_film l'image l'art l'artiste le_jeu l'\u00e9quipe
    le_club le_voyage l'h\u00f4tel la_cuisine le_repas le_pain le_caf\u00e9 la_sant\u00e9 l'h\u00f4pital
    l'\u00e9nergie la_technique l'ordinateur le_r\u00e9seau les_donn\u00e9es le_programme l'heure
    la_semaine le_mois le_soir le_matin la_nuit le_paysan la_r\u00e9colte le_champ le_port le_bateau
    l'\u00eele la_montagne la_vall\u00e9e la_r\u00e9gion le_budget l'imp\u00f4t le_rapport""",
    adjectives="""bon nouveau vieux grand petit long court important beau rapide lent simple
    difficile facile haut profond fort faible jeune pr\u00e9cis vrai faux possible n\u00e9cessaire
    clair s\u00fbr ouvert calme chaud froid sombre libre plein vide moderne public priv\u00e9
    connu populaire c\u00e9l\u00e8bre cher \u00e9conomique politique social r\u00e9gional local
    curieux pratique utile prudent ancien r\u00e9cent""",
    verbs="""trouve donne dit fait voit apporte montre tient conduit conna\u00eet prend \u00e9crit
    lit ach\u00e8te vend construit pr\u00e9pare explique d\u00e9crit soutient am\u00e9liore visite
    ouvre ferme offre re\u00e7oit d\u00e9veloppe \u00e9tudie v\u00e9rifie prot\u00e8ge r\u00e9pare partage
    change apprend comprend atteint demande observe""",
    intransitive="""vient va reste arrive part travaille grandit dort attend voyage commence
    finit rit tombe monte descend""",
    adverbs="""souvent jamais toujours parfois rapidement lentement vraiment presque d\u00e9j\u00e0
    encore ensemble peut-\u00eatre certainement heureusement bien aussi seulement tr\u00e8s ici""",
    prepositions="dans sur avec pour sans sous chez entre vers pendant apr\u00e8s avant contre par",
    times="""aujourd'hui|hier|l'ann\u00e9e derni\u00e8re|ce matin|chaque semaine|au printemps|
    apr\u00e8s la guerre|pendant l'\u00e9t\u00e9|ces derni\u00e8res ann\u00e9es|\u00e0 la fin de la journ\u00e9e|
    la plupart du temps|avant les \u00e9lections""",  # noqa: E501
    openers="""Cependant|En outre|Par exemple|En m\u00eame temps|Par cons\u00e9quent|Dans bien des cas|
    D'autre part|Selon le rapport|Pour cette raison|Au final|Bien s\u00fbr|En g\u00e9n\u00e9ral""",
    templates=(
        "{N} {V} {N} {P} {N}.",
        "{O}, {N} {V} {N} et {N}.",
        "{N} {I} {D}, et {N} {V} {N}.",
        "{N} est {A}, mais {N} ne {V} pas {N}.",
        "Il est {A} que {N} {V} {N} {T}.",
        "{T}, {N} {I} avec {N} {P} {N}.",
        "Beaucoup de gens se posent des questions sur {N} et {N}.",
        "{N} {V} {D} {N}, ce qui est {A} pour {N}.",
        "Nous ne savons pas si {N} {V} {N}.",
        "{N} n'est pas toujours aussi {A} que {N}.",
        "{O}, il \u00e9tait {A} de voir comment {N} {V} {N}.",
    ),
    commerce="pas cher acheter meilleur gratuit en ligne remise offre prix promo commander casino "
             "cr\u00e9dit",
    nav="Accueil|Actualit\u00e9s|Monde|\u00c9conomie|Sport|Culture|Sciences|Voyages|Opinions|\u00c0 "
        "propos|Contact",
    footer="Confidentialit\u00e9|Conditions d'utilisation|Nous contacter|Publicit\u00e9|Emplois|Plan du site",
    cookie=(
        "Ce site utilise des cookies pour am\u00e9liorer votre exp\u00e9rience de navigation. "
        "En poursuivant votre navigation, vous acceptez l'utilisation des cookies."
    ),
    cookie_button="Tout accepter",
    rights="Tous droits r\u00e9serv\u00e9s.",
    chapter="Chapitre",
    read_more="Lire la suite",
    popular="Les plus lus",
    js_notice="Veuillez activer JavaScript dans votre navigateur pour afficher cette page.",
    not_found="Page introuvable",
)

ES = Vocab(
    lang="es",
    nouns="""el_mercado la_ciudad la_casa el_hombre la_mujer el_ni\u00f1o el_mundo la_vida la_mano
    el_d\u00eda el_a\u00f1o el_tiempo el_camino el_trabajo el_pa\u00eds la_escuela el_padre la_madre
    el_problema la_pregunta el_Estado el_gobierno la_empresa la_sociedad el_amigo la_familia
    el_agua el_jard\u00edn la_calle el_coche el_tren la_estaci\u00f3n la_iglesia el_pueblo el_bosque
    el_r\u00edo el_puente el_libro el_peri\u00f3dico el_profesor el_m\u00e9dico la_polic\u00eda la_ley
    la_econom\u00eda la_pol\u00edtica la_historia la_cultura el_museo la_biblioteca el_precio
    el_dinero el_banco el_cliente la_idea el_proyecto el_objetivo el_desarrollo la_investigaci\u00f3n
    la_ciencia el_resultado el_municipio el_consejo el_alcalde la_universidad el_estudiante
    la_lengua la_palabra la_carta la_noticia el_clima el_invierno el_verano la_primavera
    el_oto\u00f1o la_fiesta la_m\u00fasica el_teatro la_pel\u00edcula la_imagen el_arte el_artista
    el_juego el_equipo el_club el_viaje el_hotel la_cocina la_comida el_pan el_caf\u00e9 la_salud
    el_hospital la_energ\u00eda la_t\u00e9cnica el_ordenador la_red los_datos el_programa la_hora
    la_semana el_mes la_tarde la_ma\u00f1ana la_noche el_campesino la_cosecha el_campo el_puerto
    el_barco la_isla la_monta\u00f1a el_valle la_regi\u00f3n el_presupuesto el_impuesto el_informe""",
    adjectives="""bueno nuevo viejo grande peque\u00f1o largo corto importante bonito r\u00e1pido lento
    sencillo dif\u00edcil f\u00e1cil alto profundo fuerte d\u00e9bil joven exacto verdadero falso posible
    necesario claro seguro abierto tranquilo caliente fr\u00edo oscuro libre lleno vac\u00edo moderno
    p\u00fablico privado conocido popular famoso caro econ\u00f3mico pol\u00edtico social regional local
    curioso pr\u00e1ctico \u00fatil prudente antiguo reciente""",
    verbs="""encuentra da dice hace ve trae muestra tiene lleva conoce toma escribe lee compra vende
    construye prepara explica describe apoya mejora visita abre cierra ofrece recibe desarrolla
    estudia revisa protege repara comparte cambia aprende entiende alcanza pide observa""",
    intransitive="""viene va queda llega sale trabaja crece duerme espera viaja empieza termina
    r\u00ede cae sube baja""",
    adverbs="""a_menudo nunca siempre a_veces r\u00e1pidamente lentamente realmente casi ya
    todav\u00eda juntos quiz\u00e1s ciertamente bien tambi\u00e9n solo muy aqu\u00ed""",
    prepositions="en sobre con para sin bajo entre hacia durante tras ante contra por desde",
    times="""hoy|ayer|el a\u00f1o pasado|esta ma\u00f1ana|cada semana|en primavera|despu\u00e9s de la guerra|
    durante el verano|en los \u00faltimos a\u00f1os|al final del d\u00eda|la mayor\u00eda de los d\u00edas|
    antes de las elecciones""",
    openers="""Sin embargo|Adem\u00e1s|Por ejemplo|Al mismo tiempo|Por lo tanto|En muchos casos|
    Por otro lado|Seg\u00fan el informe|Por esta raz\u00f3n|Al final|Por supuesto|En general""",
    templates=(
        "{N} {V} {N} {P} {N}.",
        "{O}, {N} {V} {N} y {N}.",
        "{N} {I} {D}, y {N} {V} {N}.",
        "{N} es {A}, pero {N} no {V} {N}.",
        "Es {A} que {N} {V} {N} {T}.",
        "{T}, {N} {I} con {N} {P} {N}.",
        "Mucha gente tiene preguntas {A} sobre {N} y {N}.",
        "{N} {V} {D} {N}, lo que es {A} para {N}.",
        "\u00bfSabemos si {N} {V} {N}?",
        "{N} no siempre es tan {A} como {N}.",
        "{O}, fue {A} ver c\u00f3mo {N} {V} {N}.",
    ),
    commerce="barato comprar mejor gratis en_l\u00ednea descuento oferta precio ahora pedir casino "
             "cr\u00e9dito",
    nav="Inicio|Noticias|Mundo|Econom\u00eda|Deportes|Cultura|Ciencia|Viajes|Opini\u00f3n|Qui\u00e9nes "
        "somos|Contacto",
    footer="Privacidad|T\u00e9rminos de uso|Contacto|Publicidad|Empleo|Mapa del sitio",
    cookie=(
        "Este sitio utiliza cookies para mejorar su experiencia de navegaci\u00f3n. "
        "Si contin\u00faa navegando, acepta el uso de cookies."
    ),
    cookie_button="Aceptar todas",
    rights="Todos los derechos reservados.",
    chapter="Cap\u00edtulo",
    read_more="Leer m\u00e1s",
    popular="Lo m\u00e1s le\u00eddo",
    js_notice="Por favor, active JavaScript en su navegador para ver esta p\u00e1gina.",
    not_found="P\u00e1gina no encontrada",
)

RU = Vocab(
    lang="ru",
    nouns="""рынок город дом человек женщина ребёнок мир жизнь рука день год время путь работа
    страна школа отец мать проблема вопрос государство правительство компания общество друг семья
    вода сад улица машина поезд вокзал церковь деревня лес река мост книга газета учитель врач
    полиция закон экономика политика история культура музей библиотека цена деньги банк клиент
    идея проект цель развитие исследование наука результат район совет мэр университет студент
    язык слово письмо новость климат зима лето весна осень праздник музыка театр фильм картина
    искусство художник игра команда клуб поездка гостиница кухня обед хлеб кофе здоровье больница
    энергия техника компьютер сеть данные программа час неделя месяц вечер утро ночь крестьянин
    урожай поле порт корабль остров гора долина регион бюджет налог доклад""",
    adjectives="""хороший новый старый большой маленький длинный короткий важный красивый быстрый
    медленный простой трудный лёгкий высокий глубокий сильный слабый молодой точный верный
    возможный нужный ясный открытый спокойный тёплый холодный тёмный свободный полный пустой
    современный общественный частный известный популярный дорогой экономический политический
    социальный местный полезный осторожный древний недавний""",
    verbs="""находит даёт говорит делает видит приносит показывает держит ведёт знает берёт пишет
    читает покупает продаёт строит готовит объясняет описывает поддерживает улучшает посещает
    открывает закрывает предлагает получает развивает изучает проверяет защищает чинит меняет
    понимает достигает просит наблюдает""",
    intransitive="""приходит уходит остаётся живёт работает растёт спит ждёт путешествует
    начинается заканчивается смеётся падает""",
    adverbs="""часто никогда всегда иногда быстро медленно действительно почти уже ещё снова вместе
    возможно конечно очень тоже только здесь там""",
    prepositions="в на с из для о под над после перед у через без между",
    times="""сегодня|вчера|в прошлом году|сегодня утром|каждую неделю|весной|после войны|
    летом|в последние годы|в конце дня|почти каждый день|перед выборами""",
    openers="""Однако|Кроме того|Например|В то же время|Поэтому|Во многих случаях|С другой стороны|
    Согласно докладу|По этой причине|В конце концов|Конечно|В целом""",
    templates=(
        "{N} {V} {N} {P} {N}.",
        "{O}, {N} {V} {N} и {N}.",
        "{N} {I} {D}, а {N} {V} {N}.",
        "{N} очень {A}, но {N} не {V} {N}.",
        "Это {A} вопрос, потому что {N} {V} {N} {T}.",
        "{T} {N} {I} вместе с {N}.",
        "У многих людей есть вопросы о том, как {N} {V} {N}.",
        "{N} {D} {V} {N}, и это {A} для {N}.",
        "Мы не знаем, что {N} {V} {N}.",
        "{N} не всегда такой {A}, как {N}.",
        "{O}, было {A} видеть, как {N} {V} {N}.",
    ),
    commerce="дешево купить лучший бесплатно онлайн скидка акция цена сейчас заказать казино кредит",
    nav="Главная|Новости|Мир|Экономика|Спорт|Культура|Наука|Путешествия|Мнения|О нас|Контакты",
    footer="Конфиденциальность|Условия использования|Связаться с нами|Реклама|Вакансии|Карта сайта",
    cookie=(
        "Этот сайт использует файлы cookie, чтобы сделать работу с ним удобнее. "
        "Продолжая просмотр, вы соглашаетесь на использование cookie."
    ),
    cookie_button="Принять все",
    rights="Все права защищены.",
    chapter="Глава",
    read_more="Читать далее",
    popular="Самое популярное",
    js_notice="Пожалуйста, включите JavaScript в браузере, чтобы увидеть эту страницу.",
    not_found="Страница не найдена",
)

ZH = Vocab(
    lang="zh",
    nouns="""市场 城市 房子 男人 女人 孩子 世界 生活 时间 道路 工作 国家 学校 父亲 母亲 问题 政府 公司
    社会 朋友 家庭 水 花园 街道 汽车 火车 车站 村庄 森林 河流 桥梁 书 报纸 老师 医生 警察 法律 经济
    政治 历史 文化 博物馆 图书馆 价格 银行 客户 想法 项目 目标 发展 研究 科学 结果 社区 大学 学生
    语言 文字 信件 新闻 气候 冬天 夏天 春天 秋天 节日 音乐 电影 艺术 游戏 球队 旅行 酒店 厨房 饭菜
    面包 健康 医院 能源 技术 电脑 网络 数据 程序 农民 收成 田野 港口 船 岛屿 山 山谷 地区 预算 报告""",
    adjectives="""重要的 新的 老的 大的 小的 长的 短的 美丽的 快速的 简单的 困难的 容易的 高的 强大的
    年轻的 正确的 可能的 必要的 清楚的 安全的 开放的 安静的 温暖的 寒冷的 自由的 现代的 公共的
    著名的 受欢迎的 昂贵的 便宜的 地方的 有用的 古老的 最近的""",
    verbs="""发现 给 告诉 做 看到 带来 展示 保持 领导 知道 需要 写 读 购买 出售 建设 准备 解释 描述
    支持 改善 访问 打开 关闭 提供 收到 发展 研究 检查 保护 修理 分享 改变 学习 理解 达到 要求 观察""",
    intransitive="来了 走了 留下 到达 工作 成长 睡觉 等待 旅行 开始 结束 笑了",
    adverbs="经常 从来不 总是 有时 很快 慢慢地 真的 几乎 已经 还 再次 一起 也许 当然 非常 也",
    prepositions="在 从 对 向 跟 和 关于 通过 根据 为了",
    times="今天|昨天|去年|今天早上|每个星期|在春天|战争以后|在夏天|近年来|一天结束的时候|大多数时候|选举之前",
    openers="但是|此外|例如|与此同时|因此|在很多情况下|另一方面|根据报告|由于这个原因|最后|当然|总的来说",
    templates=(
        "{N}{D}{V}{N}的{N}。",
        "{O}，{N}{V}了{N}和{N}。",
        "{T}，{N}在{N}{I}。",
        "{N}是{A}，但是{N}没有{V}{N}。",
        "我们认为{N}{V}{N}是很{A}事情。",
        "很多人对{N}和{N}有{A}问题。",
        "{N}{D}{V}{N}，这对{N}来说是{A}。",
        "{O}，{N}和{N}一起{V}{N}。",
        "我们不知道{N}是否{V}了{N}。",
        "{T}，这个{N}{V}了{A}{N}。",
    ),
    commerce="便宜 购买 最好 免费 在线 折扣 优惠 价格 现在 订购 赌场 贷款",
    nav="首页|新闻|国际|财经|体育|文化|科技|旅游|观点|关于我们|联系我们",
    footer="隐私政策|使用条款|联系我们|广告服务|招聘信息|网站地图",
    cookie="本网站使用cookie来改善您的浏览体验。继续浏览即表示您同意我们使用cookie。",
    cookie_button="全部接受",
    rights="版权所有。",
    chapter="第{n}章",
    read_more="阅读更多",
    popular="热门文章",
    js_notice="请在浏览器中启用JavaScript以查看此页面。",
    not_found="页面未找到",
    spaced=False,
)

VOCABS: dict[str, Vocab] = {v.lang: v for v in (EN, DE, FR, ES, RU, ZH)}
LANGS = tuple(VOCABS)

# Placeholder Latin for "lorem ipsum" pages: the two famous opening words (which C4 looks for)
# followed by a hand-picked list of Latin-looking words.
LOREM = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
    "excepteur",
    "sint",
    "occaecat",
    "cupidatat",
    "non",
    "proident",
    "sunt",
    "culpa",
    "qui",
    "officia",
    "deserunt",
    "mollit",
    "anim",
    "id",
    "est",
    "laborum",
]

# Given names and family names for bylines, book authors and SFT personas (invented mixes).
FIRST_NAMES = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elena",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Karin",
    "Luca",
    "Maria",
    "Nils",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Ugo",
    "Vera",
    "Walter",
    "Xenia",
    "Yusuf",
    "Zoe",
    "Mei",
    "Ivan",
    "Lucie",
    "Tomas",
]
LAST_NAMES = [
    "Adler",
    "Brandt",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hoffmann",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Laurent",
    "Moreau",
    "Novak",
    "Olsen",
    "Petrov",
    "Quintero",
    "Rossi",
    "Schmidt",
    "Torres",
    "Ueda",
    "Varga",
    "Wagner",
    "Xu",
    "Yilmaz",
    "Zhang",
    "Li",
    "Wang",
    "Smirnov",
    "Martin",
]
