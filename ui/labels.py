"""The interface's own words in French and English; Gradio picks by the browser's language."""

import gradio as gr

ADD_TO_BRIEFING = "Ajouter à la note / Add to briefing"  # a chat feedback option, not translated

I18N = gr.I18n(
    fr={
        "header": "## Questions sur les articles\nRéponses courtes, chaque phrase citée : "
        "cliquez sur un [n] pour lire le passage.",
        "conversation": "Conversation",
        "placeholder_chat": "Posez une question sur les articles, en français ou en anglais.",
        "ask": "Posez une question…",
        "send": "Envoyer",
        "examples": "Exemples",
        "sources": "Sources",
        "briefing": "Note de synthèse",
        "briefing_help": "Ajoutez une réponse avec le drapeau sous la réponse "
        "(« Ajouter à la note ») ou le bouton ci-dessous, puis téléchargez la note.",
        "briefing_empty": "*La note est vide.*",
        "add_last": "Ajouter la dernière réponse",
        "clear": "Vider la note",
        "download_md": "Télécharger (.md)",
        "download_docx": "Télécharger (.docx)",
        "articles": "Articles",
        "upload": "Ajouter des articles (.txt, .md, .html, .pdf, .docx)",
        "index_files": "Indexer ces articles",
        "upload_nothing": "Choisissez d'abord un ou plusieurs fichiers.",
        "settings": "Réglages",
        "model": "Modèle",
        "language": "Langue de la réponse",
        "top_k": "Passages consultés",
        "temperature": "Température",
        "since": "Depuis",
        "until": "Jusqu'à",
        "date_hint": "AAAA, AAAA-MM ou AAAA-MM-JJ",
        "source": "Source",
        "source_hint": "domaine ou nom de fichier",
        "clear_period": "Toutes dates",
        "warming": "⏳ *Le modèle lit ses consignes : vous pouvez déjà poser une question, "
        "les premières réponses arrivent un peu plus lentement.*",
    },
    en={
        "header": "## Ask the articles\nShort answers, every sentence cited: "
        "click a [n] to read the passage.",
        "conversation": "Conversation",
        "placeholder_chat": "Ask a question about the articles, in English or French.",
        "ask": "Ask a question…",
        "send": "Send",
        "examples": "Examples",
        "sources": "Sources",
        "briefing": "Briefing note",
        "briefing_help": "Add an answer with the flag under it (“Add to briefing”) or the "
        "button below, then download the note.",
        "briefing_empty": "*The note is empty.*",
        "add_last": "Add the last answer",
        "clear": "Clear the note",
        "download_md": "Download (.md)",
        "download_docx": "Download (.docx)",
        "articles": "Articles",
        "upload": "Add articles (.txt, .md, .html, .pdf, .docx)",
        "index_files": "Index these articles",
        "upload_nothing": "Choose one or more files first.",
        "settings": "Settings",
        "model": "Model",
        "language": "Answer language",
        "top_k": "Passages searched",
        "temperature": "Temperature",
        "since": "Since",
        "until": "Until",
        "date_hint": "YYYY, YYYY-MM or YYYY-MM-DD",
        "source": "Source",
        "source_hint": "domain or file name",
        "clear_period": "All dates",
        "warming": "⏳ *The model is reading its instructions: you can ask already; the first "
        "answers come a little more slowly.*",
    },
)
