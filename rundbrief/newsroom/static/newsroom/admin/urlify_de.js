/* The admin's automatic slugs with German umlauts spelt out ("Südafrika" → "suedafrika"), as
   rundbrief/newsroom/slugs.py does on the server. Django's URLify maps ä to a; this wraps it, and
   prepopulate.js looks URLify up each time it fills the field, so the wrapper is the one it calls. */
'use strict';
{
    const letters = {'ä': 'ae', 'ö': 'oe', 'ü': 'ue', 'Ä': 'Ae', 'Ö': 'Oe', 'Ü': 'Ue', 'ß': 'ss', 'ẞ': 'SS'};
    const djangoURLify = window.URLify;
    window.URLify = function(s, numChars, allowUnicode) {
        if (allowUnicode) {
            return djangoURLify(s, numChars, allowUnicode);
        }
        return djangoURLify(s.replace(/[äöüÄÖÜßẞ]/g, (ch) => letters[ch]), numChars, allowUnicode);
    };
}
