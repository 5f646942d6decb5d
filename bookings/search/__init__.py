"""Keyword search of the catalog: Chinese and English, synonyms, pinyin and near spellings."""
