"""Departments of a county and the contacts who answer for them (报到 when a township blows the whistle)."""

from httpx import AsyncClient

from tests.factories import COUNTY, CSV, TOWNSHIP, VILLAGE, bearer, contact_body, create_key, csv_body

OTHER_COUNTY = "650109000000"


async def department(client: AsyncClient, name: str = "水利局", region_code: str = COUNTY) -> dict:
    response = await client.post("/api/v1/departments", json={"name": name, "region_code": region_code})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_county_registers_its_departments(client: AsyncClient, regions: None) -> None:
    water = await department(client)
    assert water["name"] == "水利局" and water["region_code"] == COUNTY and water["id"]
    again = await client.post("/api/v1/departments", json={"name": "水利局", "region_code": "650107"})
    assert again.status_code == 409
    village = await client.post("/api/v1/departments", json={"name": "水利站", "region_code": VILLAGE})
    assert village.status_code == 422 and village.headers["content-type"].startswith("application/problem+json")
    township = bearer(await create_key(client, "duty_officer", TOWNSHIP))
    refused = await client.post("/api/v1/departments", json={"name": "消防", "region_code": COUNTY}, headers=township)
    assert refused.status_code == 403
    listed = (await client.get("/api/v1/departments", params={"region_code": COUNTY}, headers=township)).json()
    assert [d["name"] for d in listed["items"]] == ["水利局"]
    events = (await client.get("/api/v1/audit/events", params={"type": "department.changed"})).json()["items"]
    assert [e["data"]["name"] for e in events] == ["水利局"]


async def test_a_contact_answers_for_a_department_of_its_own_county(client: AsyncClient, regions: None) -> None:
    lines = ["code,name,level,parent_code", f"{OTHER_COUNTY},米东区,county,650100000000"]
    assert (await client.post("/api/v1/regions/import", content=csv_body(*lines), headers=CSV)).status_code == 200
    water = await department(client)
    theirs = await department(client, "自然资源局", OTHER_COUNTY)
    created = await client.post("/api/v1/contacts", json=contact_body(COUNTY, department_id=water["id"]))
    assert created.status_code == 201 and created.json()["department_id"] == water["id"]
    wrong = await client.post("/api/v1/contacts", json=contact_body(COUNTY, department_id=theirs["id"]))
    assert wrong.status_code == 422
    unknown = await client.post("/api/v1/contacts", json=contact_body(COUNTY, department_id="nope"))
    assert unknown.status_code == 422
    cleared = await client.patch(f"/api/v1/contacts/{created.json()['id']}", json={"department_id": None})
    assert cleared.status_code == 200 and cleared.json()["department_id"] is None


async def test_the_roster_import_names_departments_of_the_county(client: AsyncClient, regions: None) -> None:
    water = await department(client)
    header = "name,phone,region_code,role,rank,channels,department"
    body = csv_body(header, "水利值班,+8613911112222,650107,值班员,1,sms|voice,水利局",
                    "村主任,+8613911113333,650107001001,主任,1,sms,")  # fmt: skip
    imported = await client.post("/api/v1/contacts/import", content=body, headers=CSV)
    assert imported.status_code == 200, imported.text
    people = {c["name"]: c for c in (await client.get("/api/v1/contacts", params={"limit": 100})).json()["items"]}
    assert people["水利值班"]["department_id"] == water["id"] and people["村主任"]["department_id"] is None
    again = await client.post("/api/v1/contacts/import", content=body, headers=CSV)
    assert again.json()["unchanged"] == 2
    # A file without the column keeps the departments on record.
    plain = csv_body("name,phone,region_code,role,rank,channels", "水利值班,+8613911112222,650107,值班员,1,sms|voice")
    assert (await client.post("/api/v1/contacts/import", content=plain, headers=CSV)).json()["unchanged"] == 1
    bad = csv_body(header, "消防值班,+8613911114444,650107,值班员,1,sms,消防救援大队")
    refused = await client.post("/api/v1/contacts/import", content=bad, headers=CSV)
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["line", 2]
    assert "消防救援大队" in refused.json()["errors"][0]["msg"]
