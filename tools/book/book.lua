-- tools/book/book.lua — pandoc filter for the book (make docs).
--
-- 1. Code excerpts come from the sources at build time, never from pasted copies:
--      ```{.c include="05_selective_s6/s6.c" function="s6_scan_forward"}
--      // placeholder text, shown where the book is read as plain Markdown
--      ```
--    function="name"  the definition of that function (its comment block above it included),
--                     from the line that names it to the first line that is just "}";
--    lab="5.2"        the reference solution between /* LAB 5.2 BEGIN ... */ and /* LAB END */.
--    A missing file, function or marker stops the build with one line naming it.
-- 2. Images: ../NN_stage/out/x.png is copied into the book from NN_stage/out/ when the
--    stage's demo has drawn it, else from NN_stage/results/ (committed, e.g. GPU plots);
--    with neither, the build stops naming the image and the command that draws it, unless
--    BOOK_MISSING_PLOTS=placeholder, which puts a visible "not built" box in its place.
--    A plot the text names only in a code span (`out/loss_copy.png`) is shown as a figure
--    after its paragraph, once, when drawn (BOOK_PLOT_MAP: where build.py found each).
-- 3. Links to chapters/*.md become links to their pages; links to repository files are
--    rewritten relative to the book folder.
-- 4. "(N.k)" in the text links to equation N.k's page and anchor; "§N.k" to the section.
--
-- Environment: BOOK_ROOT (repository root), BOOK_OUT (the book folder),
-- BOOK_INDEX (a file of lines "N.k<TAB>page#anchor" for equations and sections).

local ROOT = os.getenv('BOOK_ROOT') or '.'
local BASE = os.getenv('BOOK_BASE') or 'chapters'   -- the source's folder, relative to ROOT

-- a path relative to the source's folder -> relative to the repository root
local function resolve(path)
  local parts = {}
  for seg in (BASE .. '/' .. path):gmatch('[^/]+') do
    if seg == '..' then
      if #parts > 0 then table.remove(parts) end
    elseif seg ~= '.' then
      parts[#parts + 1] = seg
    end
  end
  return table.concat(parts, '/')
end
local OUT = os.getenv('BOOK_OUT') or 'docs/book'
-- BOOK_HIDE_LABS=1 (build.py --hide-labs): a book for a course, whose excerpts show each lab's
-- region as a one-line comment instead of its reference solution
local HIDE_LABS = (os.getenv('BOOK_HIDE_LABS') or '') == '1'
local MISSING = os.getenv('BOOK_MISSING_PLOTS') or 'fail'

local function die(msg)
  io.stderr:write('docs: ' .. msg .. '\n')
  os.exit(2)
end

local function read_file(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() return true end
  return false
end

local function lines_of(text)
  local t = {}
  for line in (text .. '\n'):gmatch('(.-)\r?\n') do t[#t + 1] = line end
  if t[#t] == '' then t[#t] = nil end
  return t
end

-- the definition of function `name`: a line at column 0 that contains "name(" and does not end
-- in ";" (a declaration), the comment block right above it, up to the first line "}".
local function extract_function(lines, name, path)
  local pat = '[%w_%*]%s*' .. name:gsub('%p', '%%%0') .. '%s*%('
  local pat0 = '^' .. name:gsub('%p', '%%%0') .. '%s*%('
  for i, line in ipairs(lines) do
    if line:match('^[%a_]') and (line:match(pat) or line:match(pat0)) and not line:match(';%s*$')
       and not line:match('^%s*#') then
      -- the signature may continue; the body ends at a line that is exactly "}"
      local last = nil
      for j = i, #lines do
        if lines[j] == '}' then last = j break end
        if j > i and lines[j]:match('^[%a_#]') and not lines[j - 1]:match('[,(]%s*$') and lines[j] ~= '{' then
          break
        end
      end
      if last then
        local first = i
        if i > 1 and lines[i - 1]:match('^template') then first = i - 1 end
        -- the comment block directly above
        if first > 1 and lines[first - 1]:match('%*/%s*$') then
          local k = first - 1
          while k >= 1 and not lines[k]:match('^%s*/%*') do k = k - 1 end
          if k >= 1 then first = k end
        end
        local out, hiding = {}, false
        for k = first, last do   -- the labs' markers are for the course, not the reader
          local ind, id, what = lines[k]:match('^(%s*)/%*%s*LAB%s+([%d.]+)%s+BEGIN:?%s*(.-)%s*%*/')
          if id then
            if HIDE_LABS then   -- a course's book: the region is the student's to write
              out[#out + 1] = ind .. '/* lab ' .. id .. ': ' .. what .. ' — yours to write */'
              hiding = true
            end
          elseif lines[k]:match('^%s*/%*%s*LAB%s+END') then
            hiding = false
          elseif not hiding then
            out[#out + 1] = lines[k]
          end
        end
        return table.concat(out, '\n')
      end
    end
  end
  die(path .. ': no definition of function ' .. name .. ' (an excerpt of the book names it)')
end

local function extract_lab(lines, id, path)
  local begin_pat = '/%*%s*LAB%s+' .. id:gsub('%p', '%%%0') .. '%s+BEGIN'
  for i, line in ipairs(lines) do
    if line:match(begin_pat) and HIDE_LABS then
      local what = line:match('BEGIN:?%s*(.-)%s*%*/') or ''
      return '/* lab ' .. id .. ': ' .. what .. ' — yours to write */'
    elseif line:match(begin_pat) then
      for j = i + 1, #lines do
        if lines[j]:match('/%*%s*LAB%s+END') then
          -- dedent to the least indented non-empty line
          local min = 1000
          for k = i + 1, j - 1 do
            local ind = lines[k]:match('^( *)%S')
            if ind and #ind < min then min = #ind end
          end
          local out = {}
          for k = i + 1, j - 1 do
            if not lines[k]:match('^%s*/%*%s*LAB STUB') then out[#out + 1] = lines[k]:sub(min + 1) end
          end
          return table.concat(out, '\n')
        end
      end
      die(path .. ': LAB ' .. id .. ' BEGIN has no LAB END')
    end
  end
  die(path .. ': no marker /* LAB ' .. id .. ' BEGIN ... */ (an excerpt of the book names it)')
end

function CodeBlock(el)
  local inc = el.attributes['include']
  if not inc then return nil end
  local path = ROOT .. '/' .. inc
  local text = read_file(path)
  if not text then die('excerpt file ' .. inc .. ' does not exist') end
  local lines = lines_of(text)
  local body
  if el.attributes['function'] then
    body = extract_function(lines, el.attributes['function'], inc)
    el.attributes['data-source'] = inc .. ': ' .. el.attributes['function'] .. '()'
  elseif el.attributes['lab'] then
    body = extract_lab(lines, el.attributes['lab'], inc)
    el.attributes['data-source'] = inc .. ': the region of lab ' .. el.attributes['lab']
  else
    die('excerpt of ' .. inc .. ' names neither function= nor lab=')
  end
  local caption = el.attributes['data-source']
  el.text = body
  el.attributes['include'] = nil
  el.attributes['function'] = nil
  el.attributes['lab'] = nil
  local href = '../../' .. inc
  return {
    pandoc.Div({ el, pandoc.Para({ pandoc.Emph({ pandoc.Str('From '), pandoc.Link(pandoc.Code(caption), href) }) }) },
               pandoc.Attr('', { 'excerpt' }))
  }
end

local function copy_file(src, dst)
  local data = read_file(src)
  if not data then return false end
  os.execute('mkdir -p "' .. dst:match('(.*)/') .. '"')
  local f = io.open(dst, 'wb')
  if not f then die('cannot write ' .. dst) end
  f:write(data)
  f:close()
  return true
end

-- ../NN_stage/out/name.png (relative to chapters/) -> the book's img/NN_stage/name.png
function Image(el)
  local src = el.src
  if src:match('^%a+://') then die('image ' .. src .. ' is not local: the book must open offline') end
  local rel = resolve(src)
  local stage = rel:match('^(%d%d_[^/]+)/')
  local name = rel:match('([^/]+)$')
  local candidates = { rel }
  if rel:match('/out/') then candidates[#candidates + 1] = (rel:gsub('/out/', '/results/')) end
  for _, c in ipairs(candidates) do
    if exists(ROOT .. '/' .. c) then
      local dst = 'img/' .. (stage or 'misc') .. '/' .. name
      copy_file(ROOT .. '/' .. c, OUT .. '/' .. dst)
      el.src = dst
      return el
    end
  end
  if MISSING == 'placeholder' then
    local msg = 'Plot not built: ' .. rel .. ' (run make -C ' .. (stage or '?') .. ' run, then make docs)'
    return pandoc.Span({ pandoc.Str(msg) }, pandoc.Attr('', { 'missing-plot' }))
  end
  die('image ' .. rel .. ' is missing (draw it with: make -C ' .. (stage or '?') .. ' run)')
end

-- Plots the text names in a code span (`out/loss_copy.png`, `results/bench_time.png`): shown
-- as a figure after the paragraph that names them, the first time, when the stage has drawn
-- them and the chapter does not already show them with ![...](...). BOOK_PLOT_MAP: a file of
-- lines "span<TAB>file" (tools/book/build.py found each file: out/, its results/ copy, ...).
-- One not drawn yet keeps its code span only; build.py lists those.
local PLOT_MAP = {}
do
  local m = os.getenv('BOOK_PLOT_MAP')
  local text = m and read_file(m)
  if text then
    for _, line in ipairs(lines_of(text)) do
      local k, v = line:match('^(%S+)\t(%S+)$')
      if k then PLOT_MAP[k] = v end
    end
  end
end
local SHOWN = {}   -- plot path (out/ form, relative to ROOT) -> true once shown
do
  local src = PANDOC_STATE and PANDOC_STATE.input_files and PANDOC_STATE.input_files[1]
  local text = src and read_file(src)
  if text then
    for target in text:gmatch('!%[[^%]]*%]%(([^%)%s]+)') do
      SHOWN[(resolve(target):gsub('/results/', '/out/'))] = true
    end
  end
end

local function named_plot(text)
  local rel = PLOT_MAP[text]
  if not rel then return nil end
  return rel, (rel:gsub('/results/', '/out/'))
end

local function plot_figures(el)
  local figs = {}
  for _, x in ipairs(el.content) do
    if x.t == 'Code' then
      local rel, key = named_plot(x.text)
      if rel and not SHOWN[key] then
        SHOWN[key] = true
        local img = Image(pandoc.Image({ pandoc.Str(x.text) }, '../' .. rel, 'fig:'))
        figs[#figs + 1] = pandoc.Para({ img })
      end
    end
  end
  if #figs == 0 then return nil end
  table.insert(figs, 1, el)
  return figs
end
Para = plot_figures
Plain = plot_figures

-- equation and section index, for links
local INDEX = {}
do
  local idx = os.getenv('BOOK_INDEX')
  if idx then
    local text = read_file(idx)
    if text then
      for _, line in ipairs(lines_of(text)) do
        local k, v = line:match('^(%S+)\t(%S+)$')
        if k then INDEX[k] = v end
      end
    end
  end
end

function Link(el)
  local t = el.target
  if t:match('^%a+:') or t:match('^#') then return nil end
  local path, frag = t:match('^([^#]*)(#?.*)$')
  local rel = resolve(path)
  local chap = rel:match('^chapters/([%w_]+)%.md$')
  if chap then
    el.target = chap .. '.html' .. frag
    return el
  end
  local stage = rel:match('^(%d%d_[%w_]+)/README%.md$')
  if stage then
    el.target = 'stage-' .. stage .. '.html' .. frag
    return el
  end
  -- a sub-stage's README (a folder with its own Makefile) is a page too: build.py's rule
  local st, sub = rel:match('^(%d%d_[%w_]+)/([%w_]+)/README%.md$')
  if st and exists(ROOT .. '/' .. st .. '/' .. sub .. '/Makefile') then
    el.target = 'stage-' .. st .. '-' .. sub .. '.html' .. frag
    return el
  end
  -- any other file of the repository, relative to docs/book/ (a missing target is left for
  -- make test-docs to report as a broken link)
  el.target = '../../' .. rel .. frag
  return el
end

-- "(N.k)" -> link to the equation; "§N.k" -> link to the section (every one in a word)
local function link_refs(s)
  local out = {}
  while #s > 0 do
    local a1, b1, num = s:find('%((%d+%.%d+%a?)%)')
    local a2, b2, sec = s:find('§(%d+%.%d+)')
    local a3, b3, sec3 = s:find('§(%u%.%d+)')   -- a part's lettered section, T.3
    if a3 and INDEX['sec' .. sec3] and (not a2 or not INDEX['sec' .. sec] or a3 < a2) then
      a2, b2, sec = a3, b3, sec3
    end
    if a1 and not INDEX['eq' .. num] then a1 = nil end
    if a2 and not INDEX['sec' .. sec] then a2 = nil end
    if not a1 and not a2 then break end
    if a1 and (not a2 or a1 < a2) then
      if a1 > 1 then out[#out + 1] = pandoc.Str(s:sub(1, a1 - 1)) end
      out[#out + 1] = pandoc.Link({ pandoc.Str('(' .. num .. ')') }, INDEX['eq' .. num], '', pandoc.Attr('', { 'eqref' }))
      s = s:sub(b1 + 1)
    else
      if a2 > 1 then out[#out + 1] = pandoc.Str(s:sub(1, a2 - 1)) end
      out[#out + 1] = pandoc.Link({ pandoc.Str('§' .. sec) }, INDEX['sec' .. sec], '', pandoc.Attr('', { 'secref' }))
      s = s:sub(b2 + 1)
    end
  end
  if #out == 0 then return nil end
  if #s > 0 then out[#out + 1] = pandoc.Str(s) end
  return out
end

function Str(el)
  return link_refs(el.text)
end

-- display equations with \tag{N.k} get an anchor eq-N.k
function Math(el)
  if el.mathtype == 'DisplayMath' then
    local tag = el.text:match('\\tag{([^}]*)}')
    if tag then
      return pandoc.Span({ el }, pandoc.Attr('eq-' .. tag, { 'equation' }))
    end
  end
  return nil
end

-- sections "## N.k Title" (or a part's lettered "## T.3 Title") get the id sec-N.k
function Header(el)
  local text = pandoc.utils.stringify(el.content)
  local num = text:match('^(%d+%.%d+)%s') or text:match('^(%u%.%d+)%s')
  if num and el.level == 2 then el.identifier = 'sec-' .. num end
  return el
end
