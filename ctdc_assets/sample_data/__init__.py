"""Deterministic sample deliveries of the three contributors (synthetic, no real person).

`write_sample(out_dir, records=92_000, seed=7)` writes, under `out_dir`:

=================  ==========================================  ===============================
contributor        file (delivery date 2025-03-31)              format
=================  ==========================================  ===============================
case_agency        case_agency/case_agency_2025-03-31.xlsx      HTCDS v2.0 spreadsheet: sheet
                                                                `Cases` (`Cases 2`, ... past
                                                                1,048,575 rows), then `About`
hotline            hotline/hotline_export_20250331.csv          UTF-8 CSV, comma, header,
                                                                quoted where needed, LF
ngo_network        ngo_network/ngo_network_cases_2025-03.jsonl  UTF-8 JSON Lines, nested
=================  ==========================================  ===============================

Rows split 60 / 26 / 14 % (`split_records`), re-sent duplicates included, so the three
files hold exactly `records` rows/lines. The same (records, seed) gives byte-identical
files. Each file is written under a hidden `.<name>.partial` name and renamed when
complete. Rows are made 100,000 at a time (memory stays bounded at 10 million records).
Every cell of the xlsx is text; blank means the cell is absent. In the CSV a blank
field is empty. In the JSON a missing value is `null` (lists: `[]`).

Columns are `COLUMNS[contributor]` (JSON leaves as dotted paths, e.g. `person.sex`);
direct identifiers are `IDENTIFIER_COLUMNS[contributor]`. Source vocabularies, with
weights, are in `ctdc_assets.sample_data.vocab`.

Canaries
--------
In every identifier column about 0.2 % of the rows (at least 3 per 100,000-row chunk,
so at least 3 per column whenever the contributor has >= 12 rows, i.e. records >= 100)
hold a token `CANARY-<12 lowercase hex>` (`CANARY_PREFIX`): the whole value, except
e-mail (`CANARY-...@example.org`) and free text (appended to the text). No other
column ever contains `CANARY`. Free text (`cas_IncomingReferralDetails`, `narrative`,
`notes`) also holds the person's names, relatives' names and phone numbers.

Coherence
---------
Birth < recruitment <= exploitation start <= registration <= last modified (case
agency); birth < entry, `age_at_intake` = completed years at `case.entered`, `updated`
>= `entered` (NGO). Recorded ages follow the standard's bands (many 9--17 and 18--38).
Only the planted implausible values below break these rules.

Dirt planted (rates are of each 100,000-row chunk; the minimum in brackets applies per
chunk, so every spelling listed is present at records=300)
---------------------------------------------------------------------------------------
All deliveries: ~0.5 % (min 2) re-sent duplicates, placed after the originals in
their chunk.

case_agency (dates `dd/mm/yyyy` text):

- Duplicates: same `cas_CaseNumber`, `cas_LastModifiedDate` 1-29 days later; half
  of them now `cas_Status` `Closed` with reason `Assistance completed`.
- `con_Consent`: `TRUE`, `Yes`, `y`, `True`; not consenting ~2.5 % (min 4) `FALSE`,
  `No`, `n`, `false`; ~0.5 % (min 1) blank (consent not recorded: treat as no).
- `prs_Birthdate`: ~30 % blank; ~12 % of known ones `01/01/<year>` (year only);
  ~2 % (min 4) `00/00/0000`, `N/A`, `unknown`, `-`; ~0.1 % (min 1) `01/01/1900`
  (implausible: age over 100).
- `prs_Gender`: HTCDS names; ~3 % (min 4) case/whitespace variants (`feminine`,
  `MASCULINE`, ` Feminine`, `Masculine `); ~1 % (min 5) blank, `N/A`, `-`, `unknown`,
  `none`.
- `prs_Citizenship` and `vic_LocationOfExploitation` (ISO alpha-2): ~2 % (min 4)
  case/whitespace variants (`ua`, ` UA`, `PH `); ~3 % (min 6) `XX`, blank, `unknown`,
  `N/A`, `-`, `none`; ~2 % (min 2) alpha-3 (`IDN`); ~0.3 % (min 4) non-ISO codes `UK`
  (= GB), `EL` (= GR), `XK` (Kosovo, accepted by the standard), `ZZ`; ~0.4 % (min 6)
  names instead of codes: `Ukraine`, `Moldova`, `Phillipines`, `Ukriane`, `Moldavia`,
  `Viet Nam`; ~0.1 % (min 2) `NA`, which is Namibia, not a missing value. The location
  is also blank for ~28 %.
- `vic_TypeOfExploitation`, `vic_MethodsOfControl` (`;`-joined HTCDS names): ~2 %
  (min 4) joined with `; ` or with a trailing `;`; ~1 % (min 4) case/whitespace
  variants. `vic_MethodsOfControl` also uses the agency's own value
  `RestrictsMovement` (not in HTCDS v2.0).
- `vic_ForcedLabourIndustry`: ~1 % (min 4) case variants; ~0.3 % (min 3) values
  outside the picklist: `T_Households`, `Fishing`, `Construction work`.
- `vic_Abducted`: `TRUE`/`FALSE`/blank; ~1 % (min 4) `Yes`, `No`, `true`, `0`.
- `vic_TraffickingStatus`: ~1 % `NotAVictimOfTrafficking`. `cas_Status`: ~1 % case
  variants. `cas_ReferringOrganisation` contains `&` (`Women & Children Safe House`).

hotline (dates `MM/DD/YYYY`):

- Duplicates: verbatim copies of a row (same `case_id`; the export has no
  modification date).
- `report_date`: ~1 % (min 2) in 2007-2014, before the hotline's data may be used.
- `victim_age`: a number (~55 %), a range (~13 %: `13-17`, `18-24`, `25-34`,
  `35-44`, `45+`; under 13 always a number) or blank; ~8 % (min 4) `unknown`,
  `Unknown`, `N/A`, `-`; ~0.05 % (min 2) implausible `150`, `217`.
- `victim_gender`: ~3 % (min 6) `F`, `M`, `female `, `male`, ` Female`, `FEMALE`;
  ~1 % (min 3) blank or `unknown`.
- `victim_citizenship`: everyday English names (`United States`, `South Korea`,
  `Russia`, `Burma`, `Ivory Coast`, `Czech Republic`, ...); ~60 % blank; ~25 %
  (min 6) `Unknown`, `N/A`, `unknown`, `-`, `none`, `Not specified`; ~2 % (min 4)
  case/whitespace variants (`united states`); ~1 % (min 8) misspellings `Phillipines`,
  `Mexcio`, `Guatamala`, `Hondoras`, `Columbia`, `El Salvadore`, `Vietnem`, `Inida`.
- `exploitation_country`: ~97 % `United States`; ~2 % blank; ~3 % (min 6) `USA`,
  `US`, `United States of America`, `united states`, `U.S.`, `United States `;
  ~1 % (min 3) `Unknown`, `N/A`, `-`.
- `state`: USPS code, blank when abroad and for ~8 %; ~1 % (min 4) case/whitespace
  variants; ~0.3 % (min 3) names `California`, `Texas`, `florida`.
- `trafficking_type`, `industry`, `recruiter_relation`, `means_of_control`: ~1 %
  (min 4) case/whitespace variants. `means_of_control` (`|`-joined) is blank unless
  mentioned (~55 % blank; ~75 % for minors in sex trafficking, who are victims under
  US law without force, fraud or coercion). `industry` contains `&`.

ngo_network (dates ISO `yyyy-mm-dd`):

- Duplicates: same `case.id`, `case.updated` 1-45 days later.
- `case.consent_to_share`: ~3 % (min 2) `false`; ~0.3 % (min 1) `null` (not
  recorded: treat as no).
- `person.sex`: `F`, `M`, `female`, `male`, `Female`, `Male`, `X`; ~3 % null;
  ~1 % (min 3) `""`, `"unknown"`, null.
- `person.country_of_origin` (stands in for citizenship) and `exploitation.country`:
  alpha-3 (~60 %), ISO name (`Viet Nam`, `Lao People's Democratic Republic`, ~25 %)
  or everyday name (`Vietnam`, `Laos`, `Burma`, ~15 %); null ~7 % / ~10 %; ~2 %
  (min 4) case/whitespace variants (`khm`, `Thailand `); ~2 % (min 5) `""`,
  `unknown`, `N/A`, `-`, `none`; ~0.5 % (min 7) `Cambodai`, `Veitnam`, `Myanmer`,
  `Thiland`, `Indonesa`, `Lao PDR`, `Burma`; ~0.2 % (min 2) unknown codes `XXX`, `UNK`.
- `person.date_of_birth` ~45 % known; `person.age_at_intake` ~75 % known; ~0.05 %
  (min 2) implausible ages `-1`, `130`.
- `exploitation.types` (lower case): ~1 % (min 4) replaced by one of `Forced Labour`,
  `forced labor`, `Sexual Exploitation`, ` forced labour`. `exploitation.sectors`: ~1 %
  (about half of min 12, as empty lists are skipped) replaced by one of `Fishing`,
  `fishing `, `Domestic Work`, `fishing boat`. Recruiter types `broker`,
  `employer`, `agent`, `neighbour` have no CTDC equivalent (-> Other).

Countries: each contributor draws citizenship and country of exploitation from a
realistic head (case_agency UA, MD, PH, ID, KH, MM, BY, ...; hotline US, MX, ...;
ngo_network KH, MM, VN, ID, LA, ...) and a long tail over every other inhabited
ISO 3166 country: ~220 distinct nationalities at the default 92,000 records, dozens
of them with 1-3 records.
"""

from ctdc_assets.sample_data._base import CANARY_PREFIX
from ctdc_assets.sample_data.deliveries import (
    COLUMNS,
    CONTRIBUTORS,
    IDENTIFIER_COLUMNS,
    file_names,
    split_records,
    write_sample,
)

__all__ = [
    "CANARY_PREFIX",
    "COLUMNS",
    "CONTRIBUTORS",
    "IDENTIFIER_COLUMNS",
    "file_names",
    "split_records",
    "write_sample",
]
