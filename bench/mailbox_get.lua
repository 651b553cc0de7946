-- wrk: GET a page with the citizen's session cookie, or an API with the portal's token.
wrk.headers["Cookie"] = os.getenv("BK_COOKIE")
if os.getenv("BK_BEARER") then
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BK_BEARER")
end
