"""MovieLens (GroupLens), read from the official files unchanged:
- ml-100k: `u.data` (user \\t item \\t rating \\t timestamp), `u.user` (id|age|gender|occupation|zip), `u.item`
  (id|title|release date|video release date|IMDb URL|19 genre flags, Latin-1) and the predefined folds
  `u1.base/u1.test` ... `u5.base/u5.test` (and `ua`, `ub`), stored as splits `u1_base`, `u1_test`, ...;
- ml-1m: `ratings.dat` (UserID::MovieID::Rating::Timestamp), `users.dat` (UserID::Gender::Age::Occupation::Zip),
  `movies.dat` (MovieID::Title::Genres, Latin-1);
- ml-latest-small (and the other CSV releases: ml-latest, ml-20m, ml-25m): `ratings.csv`, `movies.csv` and
  optionally `tags.csv` (all UTF-8, with a header).
The variant is read off the files present (`data.options.variant=auto`). Columns: user_id, item_id, rating,
timestamp, order (line order, the tie-break of equal timestamps); users: age (the ml-1m age groups, ml-100k ages
bucketed the same way), gender, occupation, zip_prefix (first digit of the zip code: the US national area);
items: title (without the year), year, genres ("Action|Comedy"), and for CSV releases with tags.csv, tags.

Options: `variant` (auto | 100k | 1m | csv), `unknown_ids` (`drop` | `oov`: ratings of users or movies the user or
movie file lacks, formats/side_tables.py), `duplicates` (`drop` | `keep`: ratings repeating an earlier one of the same
file in user, movie, rating and timestamp, formats/duplicates.py; each fold file is its own split).
A rating line is malformed (dropped and counted against data.max_bad_fraction) when it has the wrong column count,
an id that is not a non-negative integer within int64 ("non-numeric id", "negative id", "id out of range"), a
timestamp that is not an integer ("non-numeric value") or beyond int64 ("time out of range"), or a rating outside
the release's range and steps (1..5 whole stars; 0.5..5 in half stars for CSV releases; nan and inf included).
A user or movie line is malformed (dropped; its id's ratings then count as unknown) when it has the wrong column
count, a bad id, an age that is no integer ("non-numeric value"), an ml-100k age outside 1..120 ("age out of
range"), an ml-1m age that is none of its groups ("invalid age group") or ml-100k genre flags other than 0/1
("invalid genre flags").
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import shutil
import zipfile
from typing import Dict, List

import numpy as np

from rec_jax.data.formats import duplicates, side_tables
from rec_jax.data.formats.lines import find_file, optional_file, read_header, read_lines
from rec_jax.data.formats.format_options import format_options
from rec_jax.data.formats.real_dataset import RealDataset
from rec_jax.data.formats.source_report import FileReport, SourceReport
from rec_jax.data.formats.table_builder import TableBuilder
from rec_jax.data.formats.values import BadValue, int64, integer_id
from rec_jax.errors import UserError

GENRES_100K = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
               "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
               "War", "Western")
FOLDS_100K = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
# ml-1m's age groups (README): 1 "Under 18", 18 "18-24", 25 "25-34", 35 "35-44", 45 "45-49", 50 "50-55", 56 "56+".
AGE_GROUPS = (1, 18, 25, 35, 45, 50, 56)
URLS = {"100k": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        "1m": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        "csv": "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"}
USER_COLUMNS = ("age", "gender", "occupation", "zip_prefix")
MAX_AGE = 120   # an ml-100k age beyond it (or below 1) is a malformed user line, not an old (or newborn) user
ITEM_COLUMNS = ("title", "year", "genres")
_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")


def age_group(age: int) -> str:
  return str(max(g for g in AGE_GROUPS if age >= g) if age >= 18 else 1)


def split_title(title: str):
  """'Toy Story (1995)' -> ('Toy Story', '1995'); no year -> (title, '')."""
  m = _YEAR.match(title)
  return (m.group(1), m.group(2)) if m else (title.strip(), "")


@dataclasses.dataclass(frozen=True)
class Options:
  variant: str = "auto"        # auto | 100k | 1m | csv
  unknown_ids: str = "drop"    # formats/side_tables.py
  duplicates: str = "drop"     # formats/duplicates.py


class _Ratings:
  """Accumulates valid rating lines: ids must be positive integers, the rating in the release's range."""

  def __init__(self, report: FileReport, low: float, high: float, halves: bool):
    self.report, self.low, self.high, self.halves = report, low, high, halves
    self.rows: List[tuple] = []

  def add(self, number: int, fields: List[str], expected: int = 4) -> None:
    if len(fields) != expected:
      return self.report.bad(number, "wrong column count", f"{len(fields)} columns, expected {expected}")
    user, item, rating, timestamp = (f.strip() for f in fields[:4])
    try:
      user, item = integer_id(user, "user"), integer_id(item, "item")
      try:
        value = float(rating)
      except ValueError:
        raise BadValue("non-numeric value", f"rating {rating[:40]!r}") from None
      ts = int64(timestamp, "timestamp", "time out of range")
    except BadValue as e:
      return self.report.bad(number, e.reason, e.detail)
    step_ok = (value * 2).is_integer() if self.halves else value.is_integer()   # False for nan and inf
    if not (self.low <= value <= self.high and step_ok):
      return self.report.bad(number, "rating out of range", f"{rating[:40]!r} not in {self.low:g}..{self.high:g}")
    self.report.keep()
    self.rows.append((user, item, value, ts, number))

  def columns(self) -> Dict[str, np.ndarray]:
    user, item, rating, ts, line = zip(*self.rows) if self.rows else ((),) * 5
    return {"user_id": np.array(user, dtype=object), "item_id": np.array(item, dtype=object),
            "rating": np.array(rating, dtype=np.float32), "timestamp": np.array(ts, dtype=np.int64),
            "order": np.array(line, dtype=np.int64)}


def unzip_once(archive: str) -> str:
  """`archive` extracted into `<archive>.extracted/` (once: a finished extraction is renamed into place, so an
  interrupted one is redone); returns that directory."""
  target = archive + ".extracted"
  if not os.path.isdir(target):
    partial = f"{target}.tmp.{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
      with zipfile.ZipFile(archive) as z:
        z.extractall(partial)
    except zipfile.BadZipFile as e:
      raise UserError(f"{archive}: the downloaded archive is not a valid zip file ({e}); delete it and run again") \
          from None
    try:
      os.replace(partial, target)
    except OSError:
      if not os.path.isdir(target):   # not another run having finished first
        raise
      shutil.rmtree(partial, ignore_errors=True)
  return target


def _csv_fields(text: str) -> List[str]:
  """The fields of one CSV line (quoted fields may hold commas); BadValue when the csv module rejects it (e.g. a
  field over its size limit)."""
  try:
    return next(csv.reader([text]))
  except csv.Error as e:
    raise BadValue("malformed csv", str(e)) from None


def _table(path, report: FileReport, sep: str, expected: int, encoding: str, parse_row, header=()):
  """{id: values} of a user or item file; a malformed line is dropped (its id then counts as unknown)."""
  table = {}
  lines = read_lines(path, report, encoding, header=bool(header))
  if header:
    read_header(lines, path, header)
  for number, text in lines:
    try:
      fields = _csv_fields(text) if sep == "," else text.split(sep)
    except BadValue as e:
      report.bad(number, e.reason, e.detail)
      continue
    if len(fields) != expected:
      report.bad(number, "wrong column count", f"{len(fields)} columns, expected {expected}")
      continue
    try:
      key = integer_id(fields[0])
    except BadValue as e:
      report.bad(number, e.reason, e.detail)
      continue
    try:
      values = parse_row(fields)
    except BadValue as e:
      report.bad(number, e.reason, e.detail)
      continue
    except ValueError as e:
      report.bad(number, "non-numeric value", str(e))
      continue
    if key in table:
      report.bad(number, "duplicate id", key)
      continue
    report.keep()
    table[key] = values
  return table


def _user_100k(f):
  age = int64(f[1], "age")
  if not 1 <= age <= MAX_AGE:
    raise BadValue("age out of range", f"age {f[1][:40]!r}: expected 1..{MAX_AGE} years")
  return age_group(age), f[2].strip(), f[3].strip(), f[4].strip()[:1]


def _item_100k(f):
  flags = f[5:]
  if any(x not in ("0", "1") for x in flags):
    raise BadValue("invalid genre flags", f"genre flags {[x[:10] for x in flags]!r} are not 0/1")
  title, year = split_title(f[1])
  return title, year, "|".join(g for g, x in zip(GENRES_100K, flags) if x == "1")


def _user_1m(f):
  if int64(f[2], "age") not in AGE_GROUPS:
    raise BadValue("invalid age group", f"age {f[2][:40]!r} is not an ml-1m age group {sorted(AGE_GROUPS)}")
  return f[2].strip(), f[1].strip(), f[3].strip(), f[4].strip()[:1]


def _item_1m(f):
  title, year = split_title(f[1])
  return title, year, f[2].strip()


class MovieLensFormat:
  name = "movielens"
  homepage = "https://grouplens.org/datasets/movielens/"
  description = "Movie ratings (1-5 stars; 0.5-5 in the CSV releases) with user and movie attributes."
  license = ("GroupLens research licence: research use, no redistribution, cite Harper & Konstan 2015 "
             "(see the README.txt inside each archive)")

  def variant(self, path: str, options: dict) -> str:
    variant = format_options("movielens", options, Options).variant
    if variant != "auto":
      if variant not in URLS:
        raise UserError(f"data.options.variant={variant!r}; valid: auto, {', '.join(URLS)}")
      return variant
    for name, v in (("u.data", "100k"), ("ratings.dat", "1m"), ("ratings.csv", "csv")):
      if optional_file(path, [name]):
        return v
    find_file(path, ["u.data", "ratings.dat", "ratings.csv"], "movielens (ml-100k, ml-1m or a CSV release)")
    raise AssertionError("unreachable")

  def locate(self, path: str, options: dict) -> Dict[str, str]:
    variant = self.variant(path, options)
    what = f"movielens ml-{variant}" if variant != "csv" else "movielens CSV release"
    if variant == "100k":
      files = {"ratings": find_file(path, ["u.data"], what), "users": find_file(path, ["u.user"], what),
               "items": find_file(path, ["u.item"], what)}
      for fold in FOLDS_100K:
        base, test = optional_file(path, [f"{fold}.base"]), optional_file(path, [f"{fold}.test"])
        if bool(base) != bool(test):
          find_file(path, [f"{fold}.test" if base else f"{fold}.base"], f"{what} fold {fold}")
        if base:
          files[f"{fold}_base"], files[f"{fold}_test"] = base, test
      return files
    if variant == "1m":
      return {"ratings": find_file(path, ["ratings.dat"], what), "users": find_file(path, ["users.dat"], what),
              "items": find_file(path, ["movies.dat"], what)}
    files = {"ratings": find_file(path, ["ratings.csv"], what), "items": find_file(path, ["movies.csv"], what)}
    tags = optional_file(path, ["tags.csv"])
    return {**files, "tags": tags} if tags else files

  def columns(self, files: Dict[str, str], options: dict) -> Dict[str, str]:
    cols = {"user_id": "id", "item_id": "id", "rating": "number", "timestamp": "integer", "order": "integer"}
    if "users" in files:
      cols.update({c: "category" for c in USER_COLUMNS})
    cols.update({"title": "text", "year": "category", "genres": "text"})
    if "tags" in files:
      cols["tags"] = "text"
    return cols

  def download_urls(self, options: dict) -> List[str]:
    variant = format_options("movielens", options, Options).variant
    if variant != "auto" and variant not in URLS:
      raise UserError(f"data.options.variant={variant!r}; valid: auto, {', '.join(URLS)}")
    return [URLS["100k" if variant == "auto" else variant]]

  def download(self, dl_manager, options: dict) -> str:
    """The archive through TFDS's download manager (cached in data_dir/downloads), unzipped beside it with
    `zipfile`: TFDS's own extractor needs TensorFlow, which rec_jax does not install."""
    url, = self.download_urls(options)
    return os.path.join(unzip_once(str(dl_manager.download(url))), os.path.basename(url)[:-len(".zip")])

  def parse(self, files: Dict[str, str], options: dict, report: SourceReport):
    opts = format_options("movielens", options, Options)
    policy = side_tables.check_policy(opts.unknown_ids)
    duplicates.check_policy(opts.duplicates)
    csv_release = files["ratings"].endswith((".csv", ".csv.gz"))
    users = items = None

    def file(role: str, layout: str):
      return report.file(role, files[role], layout)

    if csv_release:
      items = _table(files["items"], file("items", "a CSV file with the header movieId,title,genres"), ",", 3,
                     "utf-8", lambda f: (*split_title(f[1]), f[2].strip()), header=("movieId", "title", "genres"))
      read = lambda role: self._ratings_csv(  # noqa: E731
          files[role], file(role, "a CSV file with the header userId,movieId,rating,timestamp"))
    elif files["ratings"].endswith(("u.data", "u.data.gz")):
      users = _table(files["users"], file("users", "'|'-separated id|age|gender|occupation|zip"), "|", 5,
                     "latin-1", _user_100k)
      items = _table(files["items"], file("items", "'|'-separated id|title|release date|video release date|URL|"
                                                   "19 genre flags"), "|", 24, "latin-1", _item_100k)
      read = lambda role: self._ratings_sep(  # noqa: E731
          files[role], file(role, "tab-separated user item rating timestamp"), "\t")
    else:
      users = _table(files["users"], file("users", "'::'-separated UserID::Gender::Age::Occupation::Zip"), "::", 5,
                     "latin-1", _user_1m)
      items = _table(files["items"], file("items", "'::'-separated MovieID::Title::Genres"), "::", 3, "latin-1",
                     _item_1m)
      read = lambda role: self._ratings_sep(  # noqa: E731
          files[role], file(role, "'::'-separated UserID::MovieID::Rating::Timestamp"), "::")
    tags = (self._tags(files["tags"], file("tags", "a CSV file with the header userId,movieId,tag,timestamp"))
            if "tags" in files else None)

    def split(role: str):
      """The ratings of file `role` with their users' and items' side features, as a stored split."""
      rows = read(role)
      name = "full" if role == "ratings" else role
      account = report.split(name, files[role])
      account.rows_read = len(rows["user_id"])
      # Before the join: an unknown id replaced by <oov> would make different ratings look equal.
      rows = duplicates.apply(rows, opts.duplicates, account, report, name)
      rows = side_tables.join(rows, "user_id", users, USER_COLUMNS, policy, account, "user")
      rows = side_tables.join(rows, "item_id", items, ITEM_COLUMNS, policy, account, "item")
      if tags is not None:
        rows["tags"] = np.array([tags.get(i, "") for i in rows["item_id"]], dtype=object)
      return rows

    return {"full" if role == "ratings" else role: split(role) for role in sorted(files)
            if role == "ratings" or role.endswith(("_base", "_test"))}

  def _ratings_sep(self, path: str, report: FileReport, sep: str):
    ratings = _Ratings(report, 1, 5, halves=False)
    for number, text in read_lines(path, report, "latin-1"):
      ratings.add(number, text.split(sep))
    return ratings.columns()

  def _ratings_csv(self, path: str, report: FileReport):
    ratings = _Ratings(report, 0.5, 5, halves=True)
    lines = read_lines(path, report, "utf-8", header=True)
    read_header(lines, path, ("userId", "movieId", "rating", "timestamp"))
    for number, text in lines:
      try:
        fields = _csv_fields(text)
      except BadValue as e:
        report.bad(number, e.reason, e.detail)
        continue
      ratings.add(number, fields)
    return ratings.columns()

  def _tags(self, path: str, report: FileReport) -> Dict[str, str]:
    """movie id -> its distinct tags in first-use order, joined by ', '."""
    tags: Dict[str, List[str]] = {}
    lines = read_lines(path, report, "utf-8", header=True)
    read_header(lines, path, ("userId", "movieId", "tag", "timestamp"))
    for number, text in lines:
      try:
        fields = _csv_fields(text)
      except BadValue as e:
        report.bad(number, e.reason, e.detail)
        continue
      if len(fields) != 4:
        report.bad(number, "wrong column count", f"{len(fields)} columns, expected 4")
        continue
      try:
        movie_id = integer_id(fields[1], "movie")
      except BadValue as e:
        report.bad(number, e.reason, e.detail)
        continue
      report.keep()
      movie = tags.setdefault(movie_id, [])
      if fields[2].strip() and fields[2].strip() not in movie:
        movie.append(fields[2].strip())
    return {k: ", ".join(v) for k, v in tags.items()}


class Movielens(TableBuilder):
  """The TFDS builder `movielens`: MovieLens ml-100k, ml-1m and the CSV releases."""
  FORMAT = MovieLensFormat()


DATASET = RealDataset(Movielens)
